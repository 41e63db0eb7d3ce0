import PollTallyLog

/// Passes the log writer's news on to the next observer, then lets the snapshotter see how far
/// the log is durable (an atomic compare unless a snapshot is due).
final class SnapshotTrigger: DurabilityObserver {
    private let next: any DurabilityObserver
    private let snapshotter: Snapshotter

    init(next: any DurabilityObserver, snapshotter: Snapshotter) {
        self.next = next
        self.snapshotter = snapshotter
    }

    func logIsDurable(upTo seq: UInt64) {
        next.logIsDurable(upTo: seq)
        snapshotter.logIsDurable(upTo: seq)
    }

    func logWritten(upTo seq: UInt64) {
        next.logWritten(upTo: seq)
        snapshotter.logIsDurable(upTo: seq)
    }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {
        next.logFailed(failure, lastDurableSeq: lastDurableSeq)
    }
}
