#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Why a client (the bench or the live view) could not connect, start or finish, as one readable message.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// `operation` failed with the calling thread's current `errno`.
    static func system(_ operation: String) -> ClientError {
        let code = errno
        guard let text = strerror(code) else { return ClientError("\(operation): errno \(code)") }
        return ClientError("\(operation): \(String(cString: text))")
    }
}
