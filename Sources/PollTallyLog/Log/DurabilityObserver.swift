/// Told by the log writer, on its own thread (or by an appender that wrote, see `logWritten`), how
/// far the log is safe. Implementations must not block: they hand the news on and return.
public protocol DurabilityObserver: AnyObject, Sendable {
    /// Every event with seq ≤ `seq` is acknowledged-safe under the fsync policy.
    func logIsDurable(upTo seq: UInt64)
    /// An appender wrote the log up to `seq` itself (see the extension).
    func logWritten(upTo seq: UInt64)
    /// The log failed; events after `lastDurableSeq` will never be acknowledged.
    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64)
}

extension DurabilityObserver {
    /// An appender wrote the log up to `seq` on its own thread (`LogWriter.writePending`, under
    /// `interval` or `never`) and catches up its own state itself: pass the news on to anything
    /// else that follows the log, and never wait on the appender's peers from here. By default,
    /// the same as `logIsDurable`.
    public func logWritten(upTo seq: UInt64) { logIsDurable(upTo: seq) }
}
