/// What happened, without when: the four kinds of event the log holds.
///
/// Each mirrors the command that made it; `polltally dump` prints them in that command's syntax.
public enum EventBody: Sendable, Equatable, Hashable {
    /// A poll was created with its options in order and an optional question ("" when none).
    case pollCreated(poll: String, options: [String], question: String)
    /// A voter's current vote in a poll is now `option` (a first vote or a move).
    case voteCast(poll: String, voter: String, option: String)
    /// A voter withdrew their vote from a poll.
    case voteRetracted(poll: String, voter: String)
    /// A poll stopped taking votes.
    case pollClosed(poll: String)

    /// The poll this event belongs to.
    public var poll: String {
        switch self {
        case .pollCreated(let poll, _, _), .voteCast(let poll, _, _), .voteRetracted(let poll, _),
             .pollClosed(let poll):
            return poll
        }
    }
}

/// One record of the log: an event body stamped with its global sequence number and wall-clock time.
///
/// Sequence numbers start at 1 and have no gaps; they order every event of every poll.
public struct Event: Sendable, Equatable, Hashable {
    /// Position in the log, 1, 2, 3, … without gaps.
    public var seq: UInt64
    /// Wall-clock time of the append, in milliseconds since the Unix epoch.
    public var timestampMs: Int64
    /// What happened.
    public var body: EventBody

    public init(seq: UInt64, timestampMs: Int64, body: EventBody) {
        self.seq = seq
        self.timestampMs = timestampMs
        self.body = body
    }
}
