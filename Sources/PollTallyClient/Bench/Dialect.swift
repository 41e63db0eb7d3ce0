/// How a vote is written on the wire and how its one-line reply is judged, per server and command.
public enum Dialect: Sendable, Equatable {
    /// `VOTE <poll> <voter> <option>\n` → `OK <seq>` or `ERR <code> <message>`.
    case polltally
    /// `PING\n` → `PONG`: answered by the connection itself, no shard, no log. The floor.
    case polltallyPing
    /// `EVALSHA <sha> 0 <poll> <voter> <option>\r\n` running Benchmarks/vote.lua → `:1`, `:0` or `-<error>`.
    case redisVote(sha: String)
    /// `HINCRBY counts:<poll> <option> 1\r\n` → `:<count>`: a bare counter, no voter, no dedup.
    case redisIncrement
    /// `PING\r\n` (inline) → `+PONG`. The floor.
    case redisPing

    /// The first byte of every successful reply; any other reply line counts as an error.
    var successByte: UInt8 {
        switch self {
        case .polltally: return UInt8(ascii: "O")
        case .polltallyPing: return UInt8(ascii: "P")
        case .redisVote, .redisIncrement: return UInt8(ascii: ":")
        case .redisPing: return UInt8(ascii: "+")
        }
    }

    /// The whole successful reply line (without its `\r\n` or `\n`) when only one is right, as for a
    /// PING; nil when the first byte decides.
    var successLine: [UInt8]? {
        switch self {
        case .polltallyPing: return Array("PONG".utf8)
        case .redisPing: return Array("+PONG".utf8)
        case .polltally, .redisVote, .redisIncrement: return nil
        }
    }

    /// Whether the final tallies can be checked: a bare counter has no notion of a voter, a PING no vote.
    public var verifiable: Bool {
        switch self {
        case .polltally, .redisVote: return true
        case .polltallyPing, .redisIncrement, .redisPing: return false
        }
    }
}
