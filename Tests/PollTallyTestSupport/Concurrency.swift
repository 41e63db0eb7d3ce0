import Foundation

/// A value shared between test threads under a lock.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// The seq of an `OK <seq>` reply, or nil for anything else.
public func okSeq(_ reply: String) -> UInt64? {
    guard reply.hasPrefix("OK ") else { return nil }
    return UInt64(reply.dropFirst(3))
}
