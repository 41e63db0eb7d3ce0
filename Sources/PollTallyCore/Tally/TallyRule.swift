/// A rule of the tally state machine that a command (or, for `verify`, a logged event) breaks.
public enum TallyRule: Error, Equatable, Sendable {
    case pollExists(String)
    case noSuchPoll(String)
    case noSuchOption(poll: String, option: String)
    case pollClosed(String)
    case noVote(poll: String, voter: String)
    case tooFewOptions
    case repeatedOption(String)
    case tooManyOptions(Int)
    case invalidIdentifier
    /// A new voter's id does not fit in the poll's ballot table (see `BallotTable.canAdd`).
    case pollFull(String)
    /// Only from `apply`: the event repeats the voter's current vote, which the server never logs.
    case unchangedVote(poll: String, voter: String)
}
