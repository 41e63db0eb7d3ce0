/// What can go wrong reading or opening the log; each renders as one message naming the file
/// and, for damage, the byte offset.
public enum LogError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A syscall failed on `path`.
    case io(path: String, operation: String, Errno)
    /// A segment's header is unreadable; `offset` is the byte offset of the field that is wrong.
    case badHeader(path: String, offset: Int64, reason: String)
    /// A record that cannot be verified, with valid data after it: never skipped.
    case corruptRecord(path: String, offset: Int64, reason: String)
    /// Sequence numbers jump or repeat.
    case sequenceGap(path: String, offset: Int64, expected: UInt64, found: UInt64)
    /// A record decodes but is not a valid event in its place (breaks a tally rule).
    case invalidEvent(path: String, offset: Int64, seq: UInt64, reason: String)
    /// Another server holds the data folder.
    case locked(path: String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let errno):
            return "\(path): \(operation) failed: \(errno)"
        case .badHeader(let path, let offset, let reason):
            return "\(path): bad segment header at byte offset \(offset): \(reason)"
        case .corruptRecord(let path, let offset, let reason):
            return "\(path): corrupt record at byte offset \(offset): \(reason)"
        case .sequenceGap(let path, let offset, let expected, let found):
            return "\(path): sequence gap at byte offset \(offset): expected seq \(expected), found \(found)"
        case .invalidEvent(let path, let offset, let seq, let reason):
            return "\(path): invalid event seq \(seq) at byte offset \(offset): \(reason)"
        case .locked(let path):
            return "\(path): the data folder is in use by another polltally server"
        }
    }
}

/// Why the log stopped accepting writes. Once failed, the writer never writes again in this
/// process: after a failed write or fdatasync the kernel may have dropped the data, so nothing
/// after the last successful sync can be called safe.
public struct LogFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Errno
    public var path: String

    public init(operation: String, errno: Errno, path: String) {
        self.operation = operation
        self.errno = errno
        self.path = path
    }

    public var description: String { "\(operation) of \(path) failed: \(errno); the log accepts no more writes" }
}
