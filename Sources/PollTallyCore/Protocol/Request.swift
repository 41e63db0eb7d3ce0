/// One parsed request line.
public enum Request: Equatable, Sendable {
    case ping
    /// A command that appends an event when accepted (CREATE, VOTE, UNVOTE, CLOSE).
    case command(EventBody)
    case tally(poll: String)
    case results(poll: String)
    case polls
    case watch(polls: [String])
    case unwatch(polls: [String])
    case stats
    case help
    case quit

    /// The poll whose projection actor answers this request: commands and single-poll reads.
    /// Nil for requests the connection answers itself.
    public var shardPoll: String? {
        switch self {
        case .command(let body): return body.poll
        case .tally(let poll), .results(let poll): return poll
        case .ping, .polls, .watch, .unwatch, .stats, .help, .quit: return nil
        }
    }
}
