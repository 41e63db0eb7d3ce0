public import PollTallyCore

/// What can go wrong with a snapshot file; each renders as one message naming the file and, for
/// damage, the byte offset. A snapshot error never stops a server: it falls back to an older
/// snapshot or to the full log.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A syscall failed on `path`.
    case io(path: String, operation: String, Errno)
    /// The file is not a valid snapshot.
    case damaged(path: String, SnapshotCodec.DecodeError)
    /// The file is a snapshot in an older format, which this version no longer reads (format 1,
    /// written before 2026-11-30): not damage. A server passes it over as it would a damaged one,
    /// and its next snapshots replace it.
    case olderFormat(path: String, version: UInt32)
    /// The snapshot holds events the log does not have (it was written before a power loss took
    /// the end of the log under `--fsync interval` or `never`); it can never be used.
    case aheadOfLog(path: String, maxSeq: UInt64, logLastSeq: UInt64)
    /// The log after the snapshot breaks a tally rule when applied to it.
    case disagreesWithLog(path: String, seq: UInt64, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let errno):
            return "\(path): \(operation) failed: \(errno)"
        case .damaged(let path, let error):
            return "\(path): \(error)"
        case .olderFormat(let path, let version):
            return "\(path): snapshot format version \(version), which this version of PollTally does not read (it reads version \(SnapshotCodec.currentVersion))"
        case .aheadOfLog(let path, let maxSeq, let logLastSeq):
            return "\(path): the snapshot holds events up to seq \(maxSeq) but the log ends at seq \(logLastSeq)"
        case .disagreesWithLog(let path, let seq, let reason):
            return "\(path): the log's event seq \(seq) does not apply to this snapshot: \(reason)"
        }
    }
}
