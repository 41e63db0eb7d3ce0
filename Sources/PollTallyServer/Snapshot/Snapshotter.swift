import Dispatch
import Foundation
import PollTallyCore
import PollTallyLog
import Synchronization

/// Writes snapshots of all projection state: in the background every `every` durable events, and
/// once more at clean shutdown. A thread of its own (utility QoS): encoding and fsyncing a large
/// snapshot must run neither on a shard queue nor on the cooperative pool.
///
/// A snapshot is a consistent cut holding only durable events:
/// 1. Each shard hands over a copy of its polls together with the log's appended seq `Wₖ`, read on
///    the shard's queue at the same moment (`PollShard.snapshotPart`): the copy holds exactly the
///    shard's events with seq ≤ `Wₖ`.
/// 2. So every event with seq ≤ min `Wₖ` is in some copy: that is the snapshot's `seq`. No event
///    after max `Wₖ` is in any copy: that is its `maxSeq`. In between, each poll's `lastSeq` says
///    which of its events the copy holds (`Projection.covers`).
/// 3. The copies may hold accepted events that are not durable yet: the file is written only once
///    the log is durable up to `maxSeq`, and dropped if the log fails first.
/// 4. The file is written to a temp name, fsynced, renamed, the folder fsynced; the newest two
///    snapshots are kept.
final class Snapshotter: Sendable {
    /// Snapshots kept on disk: the newest, and one to fall back on if it is damaged.
    static let kept = 2

    private let store: SnapshotStore
    private let shards: [PollShard]
    private let log: LogWriter
    private let every: UInt64
    private let status: DurabilityStatus
    private let warn: @Sendable (String) -> Void
    /// The durable seq at which the next background snapshot is due (`.max`: none).
    private let nextDue: Atomic<UInt64>
    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    private struct State {
        /// The seq of the newest snapshot on disk.
        var lastSeq: UInt64
        var requested = false
        var running = false
        var stopping = false
    }

    /// What one attempt did.
    enum Outcome: Equatable {
        case written(seq: UInt64, bytes: Int)
        /// Nothing new since the last snapshot.
        case unchanged
        /// The log failed before the copies were durable, or the file could not be written.
        case failed
    }

    /// `every` 0 disables snapshots altogether; `lastSeq` is the seq of the snapshot loaded at start.
    init(store: SnapshotStore, shards: [PollShard], log: LogWriter, every: UInt64, lastSeq: UInt64,
         status: DurabilityStatus, warn: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.shards = shards
        self.log = log
        self.every = every
        self.status = status
        self.warn = warn
        self.nextDue = Atomic(every == 0 ? .max : Self.due(after: lastSeq, every: every))
        self.state = Mutex(State(lastSeq: lastSeq))
    }

    /// The durable seq at which the snapshot after the one at `seq` is due (saturating).
    private static func due(after seq: UInt64, every: UInt64) -> UInt64 {
        seq > UInt64.max - every ? .max : seq + every
    }

    /// Starts the background thread (nothing when snapshots are disabled).
    func start() {
        guard every > 0 else { return }
        state.withLock { $0.running = true }
        let thread = Thread { [self] in self.run() }
        thread.name = "polltally-snapshot"
        thread.qualityOfService = .utility
        thread.start()
    }

    /// From the log writer's thread after every durable batch: requests a snapshot when one is due.
    func logIsDurable(upTo seq: UInt64) {
        guard seq >= nextDue.load(ordering: .relaxed) else { return }
        let signal: Bool = state.withLock { state in
            guard state.running, !state.stopping, !state.requested else { return false }
            state.requested = true
            nextDue.store(.max, ordering: .relaxed)
            return true
        }
        if signal { wake.signal() }
    }

    /// At shutdown, after the log is closed and the shards drained: waits for a background
    /// snapshot in progress, then writes the final one on the calling thread (unless snapshots are
    /// disabled, nothing changed since the last one, or the log failed).
    @discardableResult
    func finish() -> Outcome {
        let wasRunning: Bool = state.withLock { state in
            state.stopping = true
            return state.running
        }
        if wasRunning {
            wake.signal()
            stopped.wait()
        }
        guard every > 0 else { return .unchanged }
        return take()
    }

    // MARK: - The snapshot thread

    private func run() {
        while true {
            wake.wait()
            let go: Bool? = state.withLock { state in
                if state.stopping { return nil }
                guard state.requested else { return false }
                state.requested = false
                return true
            }
            guard let go else { break }
            guard go else { continue }
            let outcome = take()
            let durable = log.counters.durableSeq
            if outcome == .failed {
                // Try again only after another `every` events, not in a loop against a full disk.
                nextDue.store(Self.due(after: durable, every: every), ordering: .relaxed)
                continue
            }
            let last = state.withLock { $0.lastSeq }
            nextDue.store(Self.due(after: last, every: every), ordering: .relaxed)
            // Events may have become durable while this one was written.
            logIsDurable(upTo: durable)
        }
        state.withLock { $0.running = false }
        stopped.signal()
    }

    /// Takes one snapshot now (on the calling thread, which must not be a shard's).
    @discardableResult
    func take() -> Outcome {
        let started = ContinuousClock.now
        let parts = collectParts()
        guard let seq = parts.map(\.appendedSeq).min(), let maxSeq = parts.map(\.appendedSeq).max() else { return .unchanged }
        guard seq > state.withLock({ $0.lastSeq }) else { return .unchanged }
        guard waitUntilDurable(maxSeq) else {
            status.snapshotFailures.add(1, ordering: .relaxed)
            warn("polltally: snapshot at seq \(seq) dropped: the log failed before it was durable")
            return .failed
        }
        let bytes = SnapshotCodec.encode(Snapshot(seq: seq, maxSeq: maxSeq, sections: Self.sections(of: parts)))
        do throws(SnapshotError) {
            try store.write(encoded: bytes, seq: seq)
        } catch {
            status.snapshotFailures.add(1, ordering: .relaxed)
            warn("polltally: snapshot at seq \(seq) not written: \(error)")
            return .failed
        }
        state.withLock { $0.lastSeq = seq }
        status.snapshotSeq.store(seq, ordering: .relaxed)
        status.snapshotsWritten.add(1, ordering: .relaxed)
        status.lastSnapshotMilliseconds.store(Int((ContinuousClock.now - started) / .milliseconds(1)), ordering: .relaxed)
        for failure in store.prune(keeping: Self.kept) {
            warn("polltally: could not delete an old snapshot: \(failure)")
        }
        return .written(seq: seq, bytes: bytes.count)
    }

    /// Sections per shard in the file. A restart decodes the sections in parallel, taking the next
    /// one as a core comes free, so several smaller ones keep both cores busy even when one of
    /// them is slowed by other work; it then moves each poll to its shard.
    static let sectionsPerShard = 8

    /// The shards' polls in `sectionsPerShard` sections each.
    static func sections(of parts: [PollShard.SnapshotPart]) -> [[String: PollState]] {
        var sections: [[String: PollState]] = []
        for part in parts {
            var split = Array(repeating: [String: PollState](), count: sectionsPerShard)
            for (index, entry) in part.polls.enumerated() { split[index % sectionsPerShard][entry.key] = entry.value }
            sections += split
        }
        return sections
    }

    /// Every shard's part, each taken on its own queue.
    private func collectParts() -> [PollShard.SnapshotPart] {
        let parts = Mutex<[PollShard.SnapshotPart?]>(Array(repeating: nil, count: shards.count))
        let group = DispatchGroup()
        for (index, shard) in shards.enumerated() {
            group.enter()
            shard.snapshotPart(log: log) { part in
                parts.withLock { $0[index] = part }
                group.leave()
            }
        }
        group.wait()
        return parts.withLock { $0.compactMap { $0 } }
    }

    /// Waits until the log is durable up to `seq`; false if it fails (or can make no more progress) first.
    private func waitUntilDurable(_ seq: UInt64) -> Bool {
        while true {
            let counters = log.counters
            if counters.failure != nil { return false }
            if counters.durableSeq >= seq { return true }
            // Closed with nothing pending yet short of `seq`: cannot happen, but never wait forever on it.
            if state.withLock({ $0.stopping }) && counters.appendedSeq == counters.durableSeq { return false }
            usleep(1_000)
        }
    }
}
