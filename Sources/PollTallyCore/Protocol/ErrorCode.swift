/// The `<code>` of an `ERR <code> <message>` line. Clients branch on the code; the message is for people.
public enum ErrorCode: String, Sendable, CaseIterable {
    case unknownCommand = "unknown-command"
    case badRequest = "bad-request"
    case lineTooLong = "line-too-long"
    case unavailable = "unavailable"
    case pollExists = "poll-exists"
    case noSuchPoll = "no-such-poll"
    case noSuchOption = "no-such-option"
    case pollClosed = "poll-closed"
    case noVote = "no-vote"
    case slowConsumer = "slow-consumer"
    case idleTimeout = "idle-timeout"
    case authRequired = "auth-required"
    case authFailed = "auth-failed"
    case tooManyConnections = "too-many-connections"
    case pollFull = "poll-full"
}

/// One error reply: a code and a human message, rendered as `ERR <code> <message>`.
public struct ProtocolError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The reply line, without the newline.
    public var line: String { "ERR \(code.rawValue) \(message)" }
}

extension TallyRule {
    /// The error reply for a command that breaks this rule.
    public var protocolError: ProtocolError {
        switch self {
        case .pollExists(let poll): return ProtocolError(.pollExists, "poll \(poll) already exists")
        case .noSuchPoll(let poll): return ProtocolError(.noSuchPoll, "no poll named \(poll)")
        case .noSuchOption(let poll, let option): return ProtocolError(.noSuchOption, "poll \(poll) has no option \(option)")
        case .pollClosed(let poll): return ProtocolError(.pollClosed, "poll \(poll) is closed")
        case .noVote(let poll, let voter): return ProtocolError(.noVote, "\(voter) has no vote in poll \(poll)")
        case .tooFewOptions: return ProtocolError(.badRequest, "a poll needs at least 2 options")
        case .repeatedOption(let option): return ProtocolError(.badRequest, "option \(option) is repeated")
        case .tooManyOptions(let max): return ProtocolError(.badRequest, "a poll has at most \(max) options")
        case .pollFull(let poll): return ProtocolError(.pollFull, "poll \(poll) holds as many voters as it can; existing voters may still move or retract")
        case .invalidIdentifier: return ProtocolError(.badRequest, "ids are 1-64 bytes of A-Z a-z 0-9 _ - . : @")
        case .unchangedVote(let poll, let voter): return ProtocolError(.badRequest, "\(voter) already holds this vote in \(poll)")
        }
    }
}
