/// One RESP2 reply from Redis.
enum RESPValue: Equatable, Sendable {
    case simple(String)
    case error(String)
    case integer(Int)
    /// A bulk string; nil is the null bulk string.
    case bulk([UInt8]?)
    /// An array; nil is the null array.
    case array([RESPValue]?)

    /// The value as text when it is a simple or bulk string.
    var text: String? {
        switch self {
        case .simple(let text): return text
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// How it reads in a message.
    var summary: String {
        switch self {
        case .simple(let text): return "+" + text
        case .error(let text): return "-" + text
        case .integer(let n): return ":\(n)"
        case .bulk(let bytes?): return "\"" + String(decoding: bytes.prefix(80), as: UTF8.self) + "\""
        case .bulk(nil): return "(nil)"
        case .array(let items?): return "array of \(items.count)"
        case .array(nil): return "(nil array)"
        }
    }
}
