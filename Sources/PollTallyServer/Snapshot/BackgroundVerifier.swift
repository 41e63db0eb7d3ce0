import Foundation
import PollTallyLog
import Synchronization

/// After a start from a snapshot, checks what the start did not: the log segments wholly before
/// the snapshot, and the records before the snapshot's seq in the first segment it read (hopped
/// over by their frames, see `LogScanner.scan`): every record's checksum and encoding, and seqs
/// running from 1 without a gap up to the snapshot's seq. One segment in memory at a time, on a
/// thread of background QoS whose nice value is 19, so it only uses CPU and disk the server
/// leaves idle.
///
/// Damage is reported loudly (a stderr line naming the file and byte offset, `STAT
/// background_verify damaged`, `STAT damaged_segments N`), but the server keeps running: the state
/// it serves came from the snapshot and the log after it, not from these segments. What they
/// hold is history, which `replay` and `verify` read.
final class BackgroundVerifier: Sendable {
    private let directory: LogDirectory
    /// The segments not read at start, in log order (always the first segments of the log).
    private let segments: [LogDirectory.Segment]
    /// The first segment the start did read, whose first seq must follow the last skipped one.
    private let next: LogDirectory.Segment?
    /// The snapshot's seq: `next` is checked through it (0: no snapshot, nothing to check).
    private let snapshotSeq: UInt64
    private let status: DurabilityStatus
    private let warn: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)

    init(directory: LogDirectory, skipped segments: [LogDirectory.Segment], next: LogDirectory.Segment?, snapshotSeq: UInt64,
         status: DurabilityStatus, warn: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.segments = segments
        self.next = next
        self.snapshotSeq = snapshotSeq
        self.status = status
        self.warn = warn
    }

    /// Whether the first segment read holds records before the snapshot's seq.
    private var checksNext: Bool {
        guard let next else { return false }
        return snapshotSeq >= next.firstSeq
    }

    /// Starts the pass; with nothing skipped at start the verdict is `ok` at once.
    func start() {
        guard !segments.isEmpty || checksNext else {
            status.verify.store(DurabilityStatus.VerifyState.ok.rawValue, ordering: .releasing)
            return
        }
        let thread = Thread { [self] in
            ThreadPriority.lowerCurrentThread()
            self.run()
        }
        thread.name = "polltally-verify"
        thread.qualityOfService = .background
        thread.start()
    }

    /// Asks the pass to stop after the segment it is reading (shutdown); it reports nothing more.
    func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    private func run() {
        let scanner = LogScanner(directory: directory)
        var expected: UInt64? = 1
        var damaged = 0
        for segment in segments {
            if stopping.load(ordering: .relaxed) { return }
            do throws(LogError) {
                expected = try scanner.verifySegment(segment, expectedFirstSeq: expected) + 1
            } catch {
                damaged += 1
                report(error)
                expected = nil
            }
        }
        if let next, checksNext, !stopping.load(ordering: .relaxed) {
            // Only through the snapshot's seq: the writer may be appending to this segment.
            do throws(LogError) {
                _ = try scanner.verifySegment(next, expectedFirstSeq: expected, throughSeq: snapshotSeq)
            } catch {
                damaged += 1
                report(error)
            }
        } else if let expected, let next, next.firstSeq != expected {
            damaged += 1
            report(.sequenceGap(path: next.path, offset: 0, expected: expected, found: next.firstSeq))
        }
        if stopping.load(ordering: .relaxed) { return }
        let verdict: DurabilityStatus.VerifyState = damaged == 0 ? .ok : .damaged
        status.verify.store(verdict.rawValue, ordering: .releasing)
    }

    private func report(_ error: LogError) {
        guard !stopping.load(ordering: .relaxed) else { return }
        status.damagedSegments.add(1, ordering: .relaxed)
        warn("polltally: DAMAGE found by the background verify of the log before the snapshot: \(error)")
    }
}
