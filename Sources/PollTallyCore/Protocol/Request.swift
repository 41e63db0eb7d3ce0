/// One parsed request line.
public enum Request: Equatable, Sendable {
    case ping
    /// A command that appends an event when accepted (CREATE, VOTE, UNVOTE, CLOSE).
    case command(EventBody)
    case tally(poll: String)
    case results(poll: String)
    case polls
    case watch(polls: [String])
    /// `WATCH *`: every poll, including those created later.
    case watchAll
    /// `UNWATCH` with no polls or `*` stops everything; otherwise the named polls.
    case unwatch(polls: [String])
    /// `TAIL [FROM <seq>] [POLL <poll>]`: stream events from `from` (nil: only new ones).
    case tail(from: UInt64?, poll: String?)
    case stats
    case help
    case quit
    /// `AUTH <token>`: the token as sent (compared in constant time by the server, never logged).
    case auth(token: [UInt8])

    /// The poll whose projection actor answers this request: commands and single-poll reads.
    /// Nil for requests the connection answers itself.
    public var shardPoll: String? {
        switch self {
        case .command(let body): return body.poll
        case .tally(let poll), .results(let poll): return poll
        case .ping, .polls, .watch, .watchAll, .unwatch, .tail, .stats, .help, .quit, .auth: return nil
        }
    }
}
