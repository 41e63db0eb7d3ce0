import Dispatch
import Foundation
import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore

/// Receipts of one appending thread: (receipt, the thread-local indices of the batch's events).
final class ReceiptBox: Sendable {
    let receipts = Mutex<[Int: [(LogWriter.Receipt, Range<Int>)]]>([:])
    let failures = Mutex(0)
}

/// Runs `threads` threads, each appending `perThread` events in batches of 1–4; the body of event
/// `i` of thread `t` is `voteCast(poll: "t<t>", voter: "v<i>", option: "o")`.
func appendConcurrently(_ writer: LogWriter, threads: Int, perThread: Int, batchSizes: [Int] = [1, 3, 2, 4]) -> ReceiptBox {
    let box = ReceiptBox()
    let group = DispatchGroup()
    for t in 0..<threads {
        group.enter()
        let thread = Thread {
            var i = 0
            var mine: [(LogWriter.Receipt, Range<Int>)] = []
            var round = t
            while i < perThread {
                let n = min(batchSizes[round % batchSizes.count], perThread - i)
                round += 1
                let bodies = (i..<i + n).map { EventBody.voteCast(poll: "t\(t)", voter: "v\($0)", option: "o") }
                switch writer.append(bodies) {
                case .success(let receipt): mine.append((receipt, i..<i + n))
                case .failure: box.failures.withLock { $0 += 1 }
                }
                i += n
            }
            box.receipts.withLock { $0[t] = mine }
            group.leave()
        }
        thread.start()
    }
    group.wait()
    return box
}

@Suite("LogWriter")
struct LogWriterTests {
    @Test("concurrent appends from several threads: every event exactly once, seqs 1…N, per-thread order kept",
          arguments: [FsyncPolicy.always, .interval(milliseconds: 2), .never])
    func concurrentAppends(_ policy: FsyncPolicy) throws {
        try withTempFolder { path in
            let threads = 4, perThread = 1000, total = threads * perThread
            let session = try openSession(path, options: EventLog.Options(fsync: policy))
            let box = appendConcurrently(session.writer, threads: threads, perThread: perThread)
            session.close()

            #expect(box.failures.withLock { $0 } == 0)
            let counters = session.writer.counters
            #expect(counters.appendedSeq == UInt64(total))
            #expect(counters.durableSeq == UInt64(total))
            #expect(counters.failure == nil)
            #expect(counters.batches >= 1)
            #expect(session.observer.maxDurable == UInt64(total))
            #expect(session.observer.failureCount == 0)
            let reports = session.observer.durableReports
            #expect(zip(reports, reports.dropFirst()).allSatisfy { $0 < $1 }, "durability reports only move forward")

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(recovery.events == total)
            #expect(recovery.lastSeq == UInt64(total))
            #expect(events.map(\.seq) == Array(1...UInt64(total)))
            #expect(Int(counters.bytesWritten) + LogFileHeader.size == Int(recovery.bytesRead))

            // Exactly once, and in each thread's order.
            expectEachThreadsVotesOnceInOrder(events, total: total)

            // Each receipt names the seqs its batch got, consecutive, with one timestamp.
            let receipts = box.receipts.withLock { $0 }
            for (t, list) in receipts {
                for (receipt, indices) in list {
                    for (k, i) in indices.enumerated() {
                        let event = events[Int(receipt.firstSeq) - 1 + k]
                        #expect(event.body == .voteCast(poll: "t\(t)", voter: "v\(i)", option: "o"))
                        #expect(event.timestampMs == receipt.timestampMs)
                    }
                }
            }
        }
    }

    @Test("group commit: with fsync always and many appenders, fewer fsyncs than events")
    func groupCommit() throws {
        try withTempFolder { path in
            let threads = 8, perThread = 500, total = threads * perThread
            let session = try openSession(path, options: EventLog.Options(fsync: .always))
            _ = appendConcurrently(session.writer, threads: threads, perThread: perThread, batchSizes: [1])
            session.close()
            let counters = session.writer.counters
            #expect(counters.durableSeq == UInt64(total))
            #expect(counters.fsyncs >= 1)
            #expect(counters.fsyncs < UInt64(total))
            #expect(counters.batches < UInt64(total))
            // Under always, each batch is synced once (no extra syncs, no unsynced batches).
            #expect(counters.fsyncs == counters.batches)
            #expect(try reopenEvents(path).events.count == total)
        }
    }

    @Test("receipts: consecutive seqs per batch; the observer hears each batch's last seq under always")
    func receiptsAndObserver() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .always))
            let r1 = try session.appendAndWait(sampleBodies(0..<3)).get()
            let r2 = try session.appendAndWait(sampleBodies(3..<4)).get()
            let r3 = try session.appendAndWait(sampleBodies(4..<9)).get()
            #expect(r1.firstSeq == 1)
            #expect(r2.firstSeq == 4)
            #expect(r3.firstSeq == 5)
            #expect(session.observer.durableReports == [3, 4, 9])
            let counters = session.writer.counters
            #expect(counters.fsyncs == 3)
            #expect(counters.batches == 3)
            #expect(counters.durableSeq == 9)
            session.close()
            let (events, _) = try reopenEvents(path)
            #expect(events.map(\.body) == sampleBodies(0..<9))
            #expect(events[0].timestampMs == r1.timestampMs)
            #expect(events[3].timestampMs == r2.timestampMs)
        }
    }

    @Test("an empty append takes a receipt for the next seq and writes nothing")
    func emptyAppend() throws {
        try withTempFolder { path in
            let session = try openSession(path)
            let empty = try session.writer.append([EventBody]()).get()
            #expect(empty.firstSeq == 1)
            let one = try session.appendAndWait([sampleBody(0)]).get()
            #expect(one.firstSeq == 1)
            session.close()
            #expect(try reopenEvents(path).events.map(\.seq) == [1])
        }
    }

    @Test("a vote appended from its ids' bytes takes the next seq and reads back as the same voteCast")
    func appendVoteFromBytes() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .never))
            _ = session.writer.append([sampleBody(0)])
            let receipt = Array("lunch".utf8).withUnsafeBytes { poll in
                Array("alice".utf8).withUnsafeBytes { voter in
                    Array("pizza".utf8).withUnsafeBytes { option in session.writer.appendVote(poll: poll, voter: voter, option: option) }
                }
            }
            #expect(try receipt.get().firstSeq == 2)
            _ = session.writer.append([sampleBody(2)])
            session.close()
            let events = try reopenEvents(path).events
            #expect(events.map(\.seq) == [1, 2, 3])
            #expect(events.map(\.body) == [sampleBody(0), .voteCast(poll: "lunch", voter: "alice", option: "pizza"), sampleBody(2)])
            #expect(events[1].timestampMs == (try receipt.get().timestampMs))
        }
    }

    @Test("close drains what is pending and syncs it (fsync never)")
    func closeDrains() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .never))
            for i in 0..<200 { _ = session.writer.append([sampleBody(i)]) }
            session.close()
            let counters = session.writer.counters
            #expect(counters.durableSeq == 200)
            #expect(counters.fsyncs >= 1, "close syncs what was written")
            #expect(try reopenEvents(path).events.map(\.body) == sampleBodies(0..<200))
        }
    }

    @Test("close with nothing appended leaves an empty, valid segment")
    func closeEmpty() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .always))
            session.close()
            #expect(session.writer.counters.fsyncs == 0)
            #expect(try readFileBytes(path + "/00000000000000000001.log") == LogFileHeader(firstSeq: 1).encoded)
            let (events, recovery) = try reopenEvents(path)
            #expect(events.isEmpty)
            #expect(recovery.cutTail == nil)
        }
    }

    /// `close()` documents: "Appends after this fail." An append after close must not hand out a
    /// receipt for an event that will never be written.
    @Test("appends after close fail")
    func appendAfterClose() throws {
        try withTempFolder { path in
            let session = try openSession(path)
            session.appendAndWait([sampleBody(0)])
            session.close()
            let late = session.writer.append([sampleBody(1)])
            if case .success(let receipt) = late {
                Issue.record("append after close succeeded with seq \(receipt.firstSeq), but the event is never written")
            }
            #expect(try reopenEvents(path).events.count == 1)
        }
    }

    @Test("segments roll at segmentSize; names equal their first seq; all are read back")
    func segmentRolling() throws {
        try withTempFolder { path in
            let options = EventLog.Options(fsync: .never, segmentSize: 4096)
            let rounds = 60, perRound = 50, total = rounds * perRound
            try writeLog(path, batches: (0..<rounds).map { r in sampleBodies(r * perRound..<(r + 1) * perRound) }, options: options)

            let segments = try LogDirectory(path: path).segments()
            #expect(segments.count >= 5)
            var expectedFirst: UInt64 = 1
            for (index, segment) in segments.enumerated() {
                let bytes = try readFileBytes(segment.path)
                #expect(segment.firstSeq == expectedFirst)
                let header = try bytes.withUnsafeBytes { raw throws(LogFileHeader.DecodeError) in try LogFileHeader.decode(raw) }
                #expect(header.firstSeq == segment.firstSeq)
                // Records of this segment only.
                var seqs: [UInt64] = []
                var offset = LogFileHeader.size
                while offset < bytes.count {
                    guard case .record(let payload, let next) = bytes.withUnsafeBytes({ RecordFrame.scan($0, at: offset) }) else {
                        Issue.record("bad record in \(segment.path) at \(offset)")
                        break
                    }
                    seqs.append(try EventCodec.decode(bytes[payload]).seq)
                    offset = next
                }
                #expect(seqs.first == segment.firstSeq, "the name is the seq of the first record")
                if index < segments.count - 1 {
                    #expect(bytes.count >= 4096, "a segment rolls only once full")
                }
                expectedFirst = (seqs.last ?? expectedFirst - 1) + 1
            }
            #expect(expectedFirst == UInt64(total) + 1)

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.events == total)
            #expect(events.map(\.body) == sampleBodies(0..<total))
            #expect(events.map(\.seq) == Array(1...UInt64(total)))
        }
    }

    @Test("after reopening a rolled log, appends continue in the last segment and roll again")
    func appendAfterReopenRolled() throws {
        try withTempFolder { path in
            let options = EventLog.Options(fsync: .never, segmentSize: 1024)
            try writeLog(path, batches: (0..<10).map { r in sampleBodies(r * 20..<(r + 1) * 20) }, options: options)
            let before = try LogDirectory(path: path).segments().count
            try writeLog(path, batches: (10..<20).map { r in sampleBodies(r * 20..<(r + 1) * 20) }, options: options)
            #expect(try LogDirectory(path: path).segments().count > before)
            let (events, _) = try reopenEvents(path)
            #expect(events.map(\.body) == sampleBodies(0..<400))
            #expect(events.map(\.seq) == Array(1...400))
        }
    }
}
