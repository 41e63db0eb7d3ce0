#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Why a bench run could not start or finish, as one readable message.
public struct BenchError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// `operation` failed with the calling thread's current `errno`.
    static func system(_ operation: String) -> BenchError {
        let code = errno
        guard let text = strerror(code) else { return BenchError("\(operation): errno \(code)") }
        return BenchError("\(operation): \(String(cString: text))")
    }
}
