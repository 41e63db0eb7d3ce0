/// How a vote is written on the wire and how its one-line reply is judged, per server and command.
public enum Dialect: Sendable, Equatable {
    /// `VOTE <poll> <voter> <option>\n` → `OK <seq>` or `ERR <code> <message>`.
    case polltally
    /// `EVALSHA <sha> 0 <poll> <voter> <option>\r\n` running Benchmarks/vote.lua → `:1`, `:0` or `-<error>`.
    case redisVote(sha: String)
    /// `HINCRBY counts:<poll> <option> 1\r\n` → `:<count>`: a bare counter, no voter, no dedup.
    case redisIncrement

    /// The first byte of every successful reply; any other reply line counts as an error.
    var successByte: UInt8 {
        switch self {
        case .polltally: return UInt8(ascii: "O")
        case .redisVote, .redisIncrement: return UInt8(ascii: ":")
        }
    }

    /// Whether the final tallies can be checked: a bare counter has no notion of a voter.
    public var verifiable: Bool { self != .redisIncrement }
}
