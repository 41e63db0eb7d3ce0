/// Told by the log writer, on its own thread, how far the log is safe. Implementations must not
/// block: they hand the news on (to the projection actors) and return.
public protocol DurabilityObserver: AnyObject, Sendable {
    /// Every event with seq ≤ `seq` is acknowledged-safe under the fsync policy.
    func logIsDurable(upTo seq: UInt64)
    /// The log failed; events after `lastDurableSeq` will never be acknowledged.
    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64)
}
