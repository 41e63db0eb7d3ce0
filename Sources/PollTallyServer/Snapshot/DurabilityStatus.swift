import Synchronization

/// What the snapshotter and the background verifier have done, for `STATS`. Atomics: written by
/// their threads, read by any connection.
final class DurabilityStatus: Sendable {
    /// Where the background pass over the segments not read at start stands.
    enum VerifyState: Int {
        case running = 0, ok = 1, damaged = 2
    }

    /// The seq of the newest snapshot loaded or written (0: none).
    let snapshotSeq = Atomic<UInt64>(0)
    let snapshotsWritten = Atomic<Int>(0)
    /// Snapshots found damaged or unusable at start (each also reported on stderr).
    let snapshotsDamaged = Atomic<Int>(0)
    /// Snapshots that could not be written (disk errors), or were dropped because the log failed.
    let snapshotFailures = Atomic<Int>(0)
    /// How long the last snapshot took, from taking the copies to the folder fsync.
    let lastSnapshotMilliseconds = Atomic<Int>(0)
    let verify = Atomic<Int>(VerifyState.running.rawValue)
    /// Segments in which the background pass found damage.
    let damagedSegments = Atomic<Int>(0)

    var verifyState: VerifyState { VerifyState(rawValue: verify.load(ordering: .acquiring)) ?? .running }

    /// `STAT` lines (without `END`).
    var statLines: [String] {
        let verifyText: String
        switch verifyState {
        case .running: verifyText = "running"
        case .ok: verifyText = "ok"
        case .damaged: verifyText = "damaged"
        }
        return [
            "STAT snapshot_seq \(snapshotSeq.load(ordering: .relaxed))",
            "STAT snapshots_written \(snapshotsWritten.load(ordering: .relaxed))",
            "STAT snapshots_damaged \(snapshotsDamaged.load(ordering: .relaxed))",
            "STAT snapshot_failures \(snapshotFailures.load(ordering: .relaxed))",
            "STAT snapshot_last_ms \(lastSnapshotMilliseconds.load(ordering: .relaxed))",
            "STAT background_verify \(verifyText)",
            "STAT damaged_segments \(damagedSegments.load(ordering: .relaxed))",
        ]
    }
}
