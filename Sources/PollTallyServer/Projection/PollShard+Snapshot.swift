import PollTallyCore
import PollTallyLog

extension PollShard {
    /// One shard's part of a snapshot: its polls (a value, copy-on-write: taking it costs nothing
    /// until the shard next changes a poll, which then copies that poll once) and the log's
    /// appended seq read at the same moment, on the shard's queue.
    ///
    /// Only this shard appends events of its polls, and it applies each one on its queue right
    /// after appending it, so `polls` holds exactly this shard's events with seq ≤ `appendedSeq`.
    /// They may not be durable yet: the snapshotter waits for that before writing.
    struct SnapshotPart: Sendable {
        var polls: [String: PollState]
        var appendedSeq: UInt64
    }

    /// Hands `receive` this shard's part, from the shard's queue, after every job enqueued before.
    nonisolated func snapshotPart(log: LogWriter, _ receive: @escaping @Sendable (SnapshotPart) -> Void) {
        enqueue { shard in
            receive(SnapshotPart(polls: shard.projection.polls, appendedSeq: log.counters.appendedSeq))
        }
    }
}
