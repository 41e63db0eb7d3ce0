public import PollTallyLog

/// A socket syscall that failed, with its errno.
public struct SocketError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Errno

    public var description: String { "\(operation) failed: \(errno)" }
}
