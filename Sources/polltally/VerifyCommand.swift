import PollTallyCore
import PollTallyLog
import PollTallyServer

/// `polltally verify`: checks every record of the log and every snapshot file.
enum VerifyCommand: Command {
    static let name = "verify"
    static let summary = "check every record and snapshot: checksum, sequence, validity"
    static let flags: Set<String> = ["data"]
    static let usage = """
        usage: polltally verify [--data ./polltally-data]

        Checks every record's checksum, that seqs run 1, 2, 3, ... without gaps, and that every
        event is valid where it stands. After a problem in the log it goes on to every later
        segment on its own (checksums and seqs; whether an event is valid needs the events
        before it). Then checks every snapshot file: its checksum and every field, and that it
        plus the log after it give exactly the state of the full log. Exit 0 when healthy;
        otherwise exit 1, naming the file and byte offset of the first problem in the log, of
        the first problem in each later damaged segment, and of each damaged snapshot. Progress
        goes to stderr when it is a terminal.
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        let path = arguments.string("data") ?? "./polltally-data"
        let directory = LogDirectory(path: path)
        var healthy = true
        var projections = Array(repeating: Projection(limits: .init(maxOptions: 255)), count: max(1, SystemInfo.activeCores))
        var logProblem = false
        var lastSeq: UInt64 = 0
        do throws(LogError) {
            let segments = try directory.segments().count
            var progress = ScanProgress("verify", directory: directory)
            let summary: LogScanner.Summary
            do throws(LogError) {
                summary = try LogReplayer(directory: directory).replay(into: &projections) { events, location in
                    progress.events(events, at: location)
                }
            } catch {
                progress.finish()
                throw error
            }
            progress.finish()
            lastSeq = summary.lastSeq
            if let torn = summary.tornTail {
                Output.err("polltally verify: \(torn); the next 'serve' cuts it")
                healthy = false
            } else {
                let reserved = summary.reservedBytes > 0 ? " (and \(summary.reservedBytes) zero bytes written ahead)" : ""
                Output.out("ok: \(summary.events) events (seq 1..\(summary.lastSeq)) in \(segments) segment(s), \(summary.bytesRead) bytes\(reserved), \(projections.reduce(0) { $0 + $1.pollCount }) polls")
            }
        } catch {
            Output.err("polltally verify: \(error)")
            healthy = false
            logProblem = true
            verifySegments(after: error, in: directory)
        }
        let polls = projections.reduce(into: [String: PollState]()) { all, projection in all.merge(projection.polls) { first, _ in first } }
        if !verifySnapshots(path: path, directory: directory, log: logProblem ? nil : (polls, lastSeq)) { healthy = false }
        return healthy ? 0 : 1
    }

    /// After the first problem in the log (`problem`), checks each later segment on its own, as
    /// the server's background pass checks older segments: header, checksums, encoding and seqs
    /// within the segment, and from one healthy segment to the next. Reports each damaged one.
    private static func verifySegments(after problem: LogError, in directory: LogDirectory) {
        let damagedPath: String
        // A gap at offset 0 is between segments (one is missing): the segment it names was not read.
        var checkNamed = false
        switch problem {
        case .badHeader(let path, _, _), .corruptRecord(let path, _, _), .invalidEvent(let path, _, _, _):
            damagedPath = path
        case .sequenceGap(let path, let offset, _, _):
            damagedPath = path
            checkNamed = offset == 0
        case .io, .locked:
            return
        }
        let segments: [LogDirectory.Segment]
        do throws(LogError) { segments = try directory.segments() } catch {
            Output.err("polltally verify: later segments not checked: \(error)")
            return
        }
        guard let named = segments.firstIndex(where: { $0.path == damagedPath }) else { return }
        let damaged = checkNamed ? named - 1 : named
        guard damaged + 1 < segments.count else { return }
        let scanner = LogScanner(directory: directory)
        var expected: UInt64?
        var damagedLater = 0
        for (index, segment) in segments.enumerated().dropFirst(damaged + 1) {
            do throws(LogError) {
                if index < segments.count - 1 {
                    expected = try scanner.verifySegment(segment, expectedFirstSeq: expected) + 1
                    continue
                }
                // The last segment, which a live server may be appending to: read as the log's
                // end, where an incomplete last record is a torn tail, not damage.
                if let expected, expected != segment.firstSeq {
                    throw .sequenceGap(path: segment.path, offset: 0, expected: expected, found: segment.firstSeq)
                }
                if let torn = try scanner.scan(fromSeq: max(segment.firstSeq, 1), visit: { _, _ in }).tornTail {
                    Output.err("polltally verify: \(torn); the next 'serve' cuts it")
                }
            } catch {
                Output.err("polltally verify: \(error)")
                damagedLater += 1
                expected = nil
            }
        }
        let later = segments.count - damaged - 1
        Output.out("after the first problem: \(later) later segment(s) checked on their own (checksums and seqs), \(damagedLater) damaged")
    }

    /// Checks each snapshot file on its own; with a healthy log, also that the snapshot plus the
    /// log after it give the log's state. Reports each problem; returns whether all are healthy.
    private static func verifySnapshots(path: String, directory: LogDirectory, log: (polls: [String: PollState], lastSeq: UInt64)?) -> Bool {
        let store = SnapshotStore(path: path)
        let files: [SnapshotStore.File]
        do throws(SnapshotError) { files = try store.files() } catch {
            Output.err("polltally verify: \(error)")
            return false
        }
        var healthy = true
        for file in files {
            do throws(SnapshotError) {
                let snapshot = try store.load(file)
                let summary = "seq \(snapshot.seq), \(snapshot.pollCount) polls, \(snapshot.ballotCount) ballots"
                guard let log else {
                    Output.out("ok: \(file.path): \(summary) (not compared: the log is damaged)")
                    continue
                }
                if let problem = compare(snapshot, file: file, directory: directory, log: log) {
                    Output.err("polltally verify: \(problem)")
                    healthy = false
                } else {
                    Output.out("ok: \(file.path): \(summary), agrees with the log")
                }
            } catch {
                if case .olderFormat = error {
                    // Not damage: the server passes it over, and its next snapshots replace it.
                    Output.out("outdated: \(error); a server passes it over and its next snapshots replace it")
                    continue
                }
                if case .io(_, _, let errno) = error, errno == .noEntry {
                    // A running server prunes old snapshots as it writes new ones.
                    Output.out("skipped: \(file.path): deleted while verify ran (a newer snapshot replaced it)")
                    continue
                }
                Output.err("polltally verify: \(error)")
                healthy = false
            }
        }
        return healthy
    }

    /// Applies the log after `snapshot` to it, as a restart does, and compares with the full log's
    /// state; the problem, if any.
    private static func compare(_ snapshot: Snapshot, file: SnapshotStore.File, directory: LogDirectory,
                                log: (polls: [String: PollState], lastSeq: UInt64)) -> String? {
        guard snapshot.maxSeq <= log.lastSeq else {
            return SnapshotError.aheadOfLog(path: file.path, maxSeq: snapshot.maxSeq, logLastSeq: log.lastSeq).description
        }
        var polls: [String: PollState] = [:]
        for section in snapshot.sections { polls.merge(section) { first, _ in first } }
        var restored = [Projection(limits: .init(maxOptions: 255), restoring: polls)]
        do throws(LogError) {
            _ = try LogReplayer(directory: directory).replay(into: &restored, fromSeq: snapshot.seq + 1, unlessCovered: true)
        } catch {
            if case .invalidEvent(_, _, let seq, let reason) = error {
                return SnapshotError.disagreesWithLog(path: file.path, seq: seq, reason: reason).description
            }
            return "\(file.path): cannot read the log after it: \(error)"
        }
        if let poll = firstDifference(restored[0].polls, log.polls) {
            return "\(file.path): the snapshot plus the log after it give poll \(poll) a different state than the full log"
        }
        return nil
    }

    /// A poll whose state differs between `a` and `b`, if any.
    private static func firstDifference(_ a: [String: PollState], _ b: [String: PollState]) -> String? {
        for (poll, state) in a where b[poll] != state { return poll }
        for poll in b.keys where a[poll] == nil { return poll }
        return nil
    }
}
