public import PollTallyLog

/// Why the server could not start.
public enum ServerError: Error, Sendable, CustomStringConvertible {
    case log(LogError)
    case listen(SocketError)
    case badConfig(String)

    public var description: String {
        switch self {
        case .log(let error): return error.description
        case .listen(let error): return error.description
        case .badConfig(let message): return message
        }
    }
}
