import Dispatch
import Foundation
import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Support

/// The kernel's id of the calling thread (Linux: `/proc/thread-self` → `<pid>/task/<tid>`).
func currentThreadID() -> Int32 {
    let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
    return Int32(link.split(separator: "/").last ?? "") ?? -1
}

/// Whether thread `tid` of this process is blocked in the kernel (state `S`), read from
/// `/proc/self/task/<tid>/stat`.
func threadIsSleeping(_ tid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "S"
}

/// Waits until `thread()` names a thread (the writer thread, once it has returned from reporting
/// what it wrote) and that thread is blocked in the kernel, seen so three times over ~1 ms (not a
/// passing moment on some other futex). With nothing pending and no wake-up owed, the writer
/// thread then sits in its wait for work.
func waitUntilParked(_ thread: () -> Int32?) -> Bool {
    waitUntil {
        guard let tid = thread() else { return false }
        for _ in 0..<3 {
            guard threadIsSleeping(tid) else { return false }
            usleep(500)
        }
        return true
    }
}

/// Records what the writer tells it, keeping `logWritten` (an appender wrote, `writePending`) apart
/// from `logIsDurable` (the writer thread), and which thread each report came from.
///
/// It learns the writer thread's id from the first `logIsDurable`.
final class InlineObserver: DurabilityObserver {
    struct State {
        var written: [UInt64] = []
        var durable: [UInt64] = []
        var durableThreads: [Int32] = []
        var writtenThreads: [Int32] = []
        var failures: [(failure: LogFailure, lastDurableSeq: UInt64)] = []
        /// `logWritten` or `logIsDurable` reports that arrived after a failure report.
        var reportsAfterFailure = 0
        var writerThread: Int32?
    }

    let state = Mutex(State())
    /// Set once the first `logIsDurable` has returned.
    private let firstReturned = Atomic<Bool>(false)

    func logIsDurable(upTo seq: UInt64) {
        let tid = currentThreadID()
        state.withLock { state in
            state.durable.append(seq)
            state.durableThreads.append(tid)
            if state.writerThread == nil { state.writerThread = tid }
            if !state.failures.isEmpty { state.reportsAfterFailure += 1 }
        }
        firstReturned.store(true, ordering: .releasing)
    }

    func logWritten(upTo seq: UInt64) {
        let tid = currentThreadID()
        state.withLock { state in
            state.written.append(seq)
            state.writtenThreads.append(tid)
            if !state.failures.isEmpty { state.reportsAfterFailure += 1 }
        }
    }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {
        state.withLock { $0.failures.append((failure, lastDurableSeq)) }
    }

    /// Waits until the writer thread has returned from its first report and is blocked in the
    /// kernel: with nothing pending and no wake-up owed, that is its wait for work.
    func waitUntilWriterParked() -> Bool {
        waitUntilParked { firstReturned.load(ordering: .acquiring) ? state.withLock { $0.writerThread } : nil }
    }

    var written: [UInt64] { state.withLock { $0.written } }
    var durable: [UInt64] { state.withLock { $0.durable } }
    var writtenThreads: [Int32] { state.withLock { $0.writtenThreads } }
    var durableThreads: [Int32] { state.withLock { $0.durableThreads } }
    var writerThread: Int32? { state.withLock { $0.writerThread } }
    /// The furthest seq reported by either call.
    var maxReported: UInt64 { state.withLock { max($0.written.max() ?? 0, $0.durable.max() ?? 0) } }
    var failure: (failure: LogFailure, lastDurableSeq: UInt64)? { state.withLock { $0.failures.first } }
    var failureCount: Int { state.withLock { $0.failures.count } }
    var reportsAfterFailure: Int { state.withLock { $0.reportsAfterFailure } }
}

/// An observer that implements only the original two requirements, so `logWritten` is the
/// protocol's default. Records the thread of each report.
final class DefaultsOnlyObserver: DurabilityObserver {
    let reports = Mutex<[(seq: UInt64, thread: Int32)]>([])
    let firstReturned = Atomic<Bool>(false)

    func logIsDurable(upTo seq: UInt64) {
        reports.withLock { $0.append((seq, currentThreadID())) }
        firstReturned.store(true, ordering: .releasing)
    }

    /// The thread of the first report, once that report has returned.
    var firstThread: Int32? { firstReturned.load(ordering: .acquiring) ? reports.withLock { $0.first?.thread } : nil }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {}
}

/// A log opened with `start(observer:appendersWrite:)`.
final class InlineSession: Sendable {
    let opened: EventLog.Opened
    let observer: InlineObserver
    private let closed = Atomic<Bool>(false)

    init(opened: EventLog.Opened, observer: InlineObserver) {
        self.opened = opened
        self.observer = observer
    }

    var writer: LogWriter { opened.writer }

    /// Closes the writer and the folder lock; only the first call does anything.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        opened.writer.close()
        opened.lock.close()
    }
}

/// Opens the log in `path` and starts the writer with `appendersWrite`. `preStart` is appended
/// before `start`, so the writer thread's first turn always finds it and writes it itself (then
/// reports it with `logIsDurable`, which tells the observer the writer thread's id).
func openInlineSession(_ path: String, policy: FsyncPolicy, io: any LogFileIO = SystemLogFileIO(), segmentSize: Int64 = 64 << 20,
                       appendersWrite: Bool = true, preStart: [EventBody] = []) throws -> InlineSession {
    let opened = try EventLog.open(LogDirectory(path: path), options: EventLog.Options(fsync: policy, segmentSize: segmentSize, io: io)) { _, _ throws(LogError) in }
    if !preStart.isEmpty { _ = try opened.writer.append(preStart).get() }
    let observer = InlineObserver()
    opened.writer.start(observer: observer, appendersWrite: appendersWrite)
    return InlineSession(opened: opened, observer: observer)
}

/// A `LogFileIO` whose first `dataSync` blocks until `release()` (writes and later syncs go through).
final class SyncGateIO: LogFileIO {
    let syncEntered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let writes = Atomic<Int>(0)
    private let syncs = Atomic<Int>(0)

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        writes.add(1, ordering: .relaxed)
        try fd.writeAll(bytes, at: offset)
    }

    func dataSync(_ fd: FileDescriptor) throws(Errno) {
        if syncs.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
            syncEntered.signal()
            gate.wait()
        }
        try fd.dataSync()
    }

    func release() { gate.signal() }
    var writeCount: Int { writes.load(ordering: .relaxed) }
}

/// A `LogFileIO` whose `failWriteAt`-th write blocks until `release()`, then fails with ENOSPC
/// (holding the log's write lock all the while); counts the fdatasyncs made after that failure.
final class HeldFailureIO: LogFileIO {
    let failWriteAt: Int
    let failingWriteEntered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let writes = Atomic<Int>(0)
    private let failed = Atomic<Bool>(false)
    private let syncsAfter = Atomic<Int>(0)

    init(failWriteAt: Int) { self.failWriteAt = failWriteAt }

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        if writes.wrappingAdd(1, ordering: .relaxed).newValue == failWriteAt {
            failingWriteEntered.signal()
            gate.wait()
            failed.store(true, ordering: .releasing)
            throw .noSpace
        }
        try fd.writeAll(bytes, at: offset)
    }

    func dataSync(_ fd: FileDescriptor) throws(Errno) {
        if failed.load(ordering: .acquiring) { syncsAfter.add(1, ordering: .relaxed) }
        try fd.dataSync()
    }

    func release() { gate.signal() }
    var syncsAfterFailure: Int { syncsAfter.load(ordering: .relaxed) }
}

/// Sleeps `ms` milliseconds: only to give a misbehaving writer the chance to show itself, never as
/// a claim about how fast anything is.
private func pause(ms: Int) { usleep(UInt32(ms) * 1000) }

// MARK: - Tests

@Suite("LogWriter with appenders writing (writePending)")
struct LogWriterInlineWriteTests {
    @Test("start honours appendersWrite under interval and never only")
    func appendersWriteFlag() throws {
        for (policy, expected) in [(FsyncPolicy.never, true), (.interval(milliseconds: 50), true), (.always, false)] {
            try withTempFolder { path in
                let session = try openInlineSession(path, policy: policy)
                #expect(session.writer.appendersWrite == expected, "\(policy)")
                session.close()
            }
            try withTempFolder { path in
                let session = try openInlineSession(path, policy: policy, appendersWrite: false)
                #expect(!session.writer.appendersWrite, "\(policy) without appendersWrite")
                session.close()
            }
        }
    }

    @Test("never: appends are not written (the idle writer thread is not woken) until writePending writes them all on the caller's thread")
    func neverWritesOnlyOnWritePending() throws {
        try withTempFolder { path in
            // Seq 1 is written by the writer thread's first turn; then it has nothing to do, and
            // under never nothing will wake it before close unless an append does.
            let session = try openInlineSession(path, policy: .never, preStart: [sampleBody(0)])
            defer { session.close() }
            #expect(session.observer.waitUntilWriterParked(), "the writer thread never reported seq 1 and went idle")
            #expect(waitUntil { session.writer.writerIsWaiting })
            #expect(session.observer.durable == [1])
            let segment = path + "/00000000000000000001.log"
            let base = session.writer.counters
            #expect(base.durableSeq == 1)
            #expect(base.batches == 1)

            let r1 = try session.writer.append(sampleBodies(1..<3)).get()
            let r2 = try session.writer.append(sampleBodies(3..<4)).get()
            let r3 = try session.writer.append(sampleBodies(4..<10)).get()
            #expect([r1.firstSeq, r2.firstSeq, r3.firstSeq] == [2, 4, 5])
            #expect(session.writer.counters.appendedSeq == 10)

            // Not written while we wait.
            pause(ms: 100)
            var counters = session.writer.counters
            #expect(counters.durableSeq == 1)
            #expect(counters.batches == 1)
            #expect(counters.bytesWritten == base.bytesWritten)
            #expect(try recordsLength(segment) == Int64(LogFileHeader.size) + Int64(base.bytesWritten), "appends reached the file before writePending")
            #expect(session.observer.written.isEmpty)
            #expect(session.observer.durable == [1])

            // writePending writes the three appends as one batch, on this thread, and reports it.
            #expect(session.writer.writePending() == 10)
            counters = session.writer.counters
            #expect(counters.durableSeq == 10)
            #expect(counters.batches == 2)
            #expect(counters.fsyncs == 0, "never does not sync before close")
            #expect(try recordsLength(segment) == Int64(LogFileHeader.size) + Int64(counters.bytesWritten))
            #expect(session.observer.written == [10])
            #expect(session.observer.writtenThreads == [currentThreadID()], "logWritten comes from the appender's thread")
            #expect(session.observer.durable == [1], "the writer thread reports nothing it did not write")
            // The events are in the file now (written to the OS), before any close or sync.
            let early = try scanAll(path)
            #expect(early.events.map(\.seq) == Array(1...10))
            #expect(early.events.map(\.body) == sampleBodies(0..<10))

            // Nothing pending: writePending writes nothing and reports nothing more.
            #expect(session.writer.writePending() == 10)
            #expect(session.writer.counters.batches == 2)
            #expect(session.observer.written == [10])

            // A second round.
            _ = try session.writer.append(sampleBodies(10..<12)).get()
            pause(ms: 20)
            #expect(session.writer.counters.durableSeq == 10)
            #expect(session.writer.writePending() == 12)
            #expect(session.observer.written == [10, 12])
            #expect(session.writer.counters.fsyncs == 0)

            session.close()
            #expect(session.writer.counters.durableSeq == 12)
            #expect(session.writer.counters.fsyncs == 1, "close syncs what writePending wrote")
            #expect(session.observer.failureCount == 0)

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(events.map(\.seq) == Array(1...12))
            #expect(events.map(\.body) == sampleBodies(0..<12))
            #expect(events[1].timestampMs == r1.timestampMs)
            #expect(events[3].timestampMs == r2.timestampMs)
            #expect(events[4].timestampMs == r3.timestampMs)
        }
    }

    @Test("an observer without logWritten hears writePending's write as logIsDurable, on the appender's thread")
    func logWrittenDefault() throws {
        try withTempFolder { path in
            let opened = try EventLog.open(LogDirectory(path: path), options: EventLog.Options(fsync: .never)) { _, _ throws(LogError) in }
            defer { opened.writer.close(); opened.lock.close() }
            _ = try opened.writer.append([sampleBody(0)]).get()
            let observer = DefaultsOnlyObserver()
            opened.writer.start(observer: observer, appendersWrite: true)
            // The writer thread writes and reports seq 1 itself; wait until it idles.
            #expect(waitUntilParked { observer.firstThread })
            _ = try opened.writer.append(sampleBodies(1..<5)).get()
            #expect(opened.writer.writePending() == 5)
            let reports = observer.reports.withLock { $0 }
            #expect(reports.map(\.seq).last == 5)
            #expect(reports.contains { $0.seq == 5 && $0.thread == currentThreadID() }, "\(reports)")
        }
    }

    @Test("several threads appending and calling writePending: every event once, seqs 1…N, each call covers the caller's appends",
          arguments: [(FsyncPolicy.never, Int64(64 << 20)), (.interval(milliseconds: 2), 64 << 20), (.never, 4096)])
    func concurrentWritePending(_ policy: FsyncPolicy, segmentSize: Int64) throws {
        try withTempFolder { path in
            let threads = 6, perThread = 600, total = threads * perThread
            let session = try openInlineSession(path, policy: policy, segmentSize: segmentSize)
            let writer = session.writer
            struct Call { var appendedUpTo: UInt64; var returned: UInt64 }
            let calls = Mutex<[Int: [Call]]>([:])
            let failures = Atomic<Int>(0)
            let group = DispatchGroup()
            for t in 0..<threads {
                group.enter()
                let thread = Thread {
                    var mine: [Call] = []
                    var i = 0, round = t
                    let sizes = [1, 3, 2, 4]
                    while i < perThread {
                        let n = min(sizes[round % sizes.count], perThread - i)
                        round += 1
                        let bodies = (i..<i + n).map { EventBody.voteCast(poll: "t\(t)", voter: "v\($0)", option: "o") }
                        switch writer.append(bodies) {
                        case .success(let receipt):
                            let last = receipt.firstSeq + UInt64(n) - 1
                            mine.append(Call(appendedUpTo: last, returned: writer.writePending()))
                        case .failure:
                            failures.add(1, ordering: .relaxed)
                        }
                        i += n
                    }
                    calls.withLock { $0[t] = mine }
                    group.leave()
                }
                thread.start()
            }
            group.wait()
            #expect(failures.load(ordering: .relaxed) == 0)

            // Everything is written once each appender's last writePending returned.
            let before = writer.counters
            #expect(before.appendedSeq == UInt64(total))
            #expect(before.durableSeq == UInt64(total))
            #expect(session.observer.maxReported == UInt64(total))
            let allCalls = calls.withLock { $0.values.flatMap { $0 } }
            #expect(allCalls.count > 0)
            let uncovered = allCalls.filter { $0.returned < $0.appendedUpTo }
            #expect(uncovered.isEmpty, "writePending returned less than the caller had appended: \(uncovered.prefix(3))")
            #expect(allCalls.allSatisfy { $0.returned <= UInt64(total) })
            #expect(session.observer.written.allSatisfy { $0 >= 1 && $0 <= UInt64(total) })

            session.close()
            let counters = writer.counters
            #expect(counters.durableSeq == UInt64(total))
            #expect(counters.failure == nil)
            #expect(counters.fsyncs >= 1)
            #expect(session.observer.failureCount == 0)

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(events.map(\.seq) == Array(1...UInt64(total)))
            if segmentSize == 64 << 20 {
                #expect(Int(counters.bytesWritten) + LogFileHeader.size == Int(recovery.bytesRead))
            } else {
                let segments = try LogDirectory(path: path).segments()
                #expect(segments.count >= 5, "the appenders rolled segments")
                // Each segment is named after the first seq it holds.
                for segment in segments {
                    let first = try scanAll(path, fromSeq: segment.firstSeq, throughSeq: segment.firstSeq)
                    #expect(first.locations == [LogScanner.Location(path: segment.path, offset: Int64(LogFileHeader.size))])
                }
            }
            expectEachThreadsVotesOnceInOrder(events, total: total)
        }
    }

    @Test("interval: the writer thread syncs what appenders wrote, on its own, interval after interval")
    func intervalSyncsOnItsOwn() throws {
        try withTempFolder { path in
            let session = try openInlineSession(path, policy: .interval(milliseconds: 50))
            defer { session.close() }
            _ = try session.writer.append(sampleBodies(0..<4)).get()
            #expect(session.writer.writePending() == 4)
            #expect(waitUntil(seconds: 10) { session.writer.counters.fsyncs >= 1 }, "the writer thread never synced the first write")
            #expect(session.writer.counters.durableSeq == 4)
            #expect(session.observer.maxReported == 4, "a sync reports nothing new")

            // After a sync the writer waits without a deadline: the next write must wake it again.
            let synced = session.writer.counters.fsyncs
            _ = try session.writer.append(sampleBodies(4..<6)).get()
            #expect(session.writer.writePending() == 6)
            #expect(waitUntil(seconds: 10) { session.writer.counters.fsyncs > synced }, "the writer thread never synced the second write")
            #expect(session.observer.maxReported == 6)

            session.close()
            #expect(session.writer.counters.durableSeq == 6)
            #expect(try reopenEvents(path).events.map(\.body) == sampleBodies(0..<6))
        }
    }

    @Test("never: what appenders wrote is not synced before close, and close syncs it once")
    func neverDoesNotSyncBeforeClose() throws {
        try withTempFolder { path in
            let session = try openInlineSession(path, policy: .never)
            defer { session.close() }
            for b in 0..<5 {
                _ = try session.writer.append(sampleBodies(b * 2..<b * 2 + 2)).get()
                #expect(session.writer.writePending() == UInt64(b * 2 + 2))
            }
            pause(ms: 100)
            #expect(session.writer.counters.fsyncs == 0)
            #expect(session.writer.counters.durableSeq == 10)
            session.close()
            #expect(session.writer.counters.fsyncs == 1)
        }
    }

    @Test("close writes and syncs what was appended but never passed to writePending; afterwards writePending is harmless and appends fail",
          arguments: [FsyncPolicy.never, .interval(milliseconds: 1000)])
    func closeWritesTheRest(_ policy: FsyncPolicy) throws {
        try withTempFolder { path in
            let session = try openInlineSession(path, policy: policy)
            defer { session.close() }
            _ = try session.writer.append(sampleBodies(0..<3)).get()
            #expect(session.writer.writePending() == 3)
            _ = try session.writer.append(sampleBodies(3..<5)).get()
            _ = try session.writer.append(sampleBodies(5..<8)).get()

            session.close()
            let counters = session.writer.counters
            #expect(counters.appendedSeq == 8)
            #expect(counters.durableSeq == 8, "close wrote the events writePending never took")
            #expect(counters.fsyncs >= 1, "close synced them")
            #expect(session.observer.durable.last == 8, "the writer thread reports what it wrote")
            #expect(session.observer.failureCount == 0)

            // After close: writePending does nothing, appends fail and never get a seq.
            #expect(session.writer.writePending() == 8)
            let late = session.writer.append([sampleBody(8)])
            if case .success(let receipt) = late { Issue.record("append after close succeeded with seq \(receipt.firstSeq)") }
            #expect(session.writer.writePending() == 8)
            #expect(session.writer.counters.batches == counters.batches)
            #expect(session.writer.counters.durableSeq == 8)

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(events.map(\.seq) == Array(1...8))
            #expect(events.map(\.body) == sampleBodies(0..<8))
        }
    }

    /// Under `always` the inline mode is ignored: only the writer thread writes, and an event is
    /// durable once synced. The first fdatasync is held, so anything writePending did would show.
    @Test("always: writePending neither writes nor makes durable; the writer thread does, and reports logIsDurable")
    func alwaysIgnoresInlineMode() throws {
        try withTempFolder { path in
            let io = SyncGateIO()
            let session = try openInlineSession(path, policy: .always, io: io)
            defer { io.release(); session.close() }
            #expect(!session.writer.appendersWrite)
            _ = try session.writer.append(sampleBodies(0..<2)).get()
            // The writer thread writes batch 1 and blocks in its fdatasync.
            #expect(io.syncEntered.wait(timeout: .now() + 20) == .success, "the writer thread never synced under always")
            _ = try session.writer.append(sampleBodies(2..<5)).get()

            // On another thread, so a writePending that waited for the writer could not hang the test.
            let returned = Atomic<UInt64>(.max)
            let caller = Thread { returned.store(session.writer.writePending(), ordering: .releasing) }
            caller.start()
            #expect(waitUntil { returned.load(ordering: .acquiring) != .max }, "writePending blocked under always")
            #expect(returned.load(ordering: .acquiring) == 0, "nothing is durable while the first sync is held")
            #expect(session.writer.counters.durableSeq == 0)
            #expect(io.writeCount == 1, "writePending wrote the pending batch itself under always")
            #expect(session.writer.counters.batches == 0)
            #expect(session.observer.written.isEmpty)
            #expect(session.observer.durable.isEmpty)

            io.release()
            #expect(waitUntil { session.observer.maxReported >= 5 })
            #expect(session.writer.counters.durableSeq == 5)
            #expect(session.observer.durable == [2, 5], "the writer thread reports each synced batch")
            #expect(session.observer.written.isEmpty, "no logWritten under always")
            let counters = session.writer.counters
            #expect(counters.fsyncs == counters.batches)
            session.close()
            #expect(try reopenEvents(path).events.map(\.body) == sampleBodies(0..<5))
        }
    }

    @Test("a write failing in writePending: logFailed once, later appends fail, durableSeq stays at the last good write",
          arguments: [0, 10])
    func failedWriteInWritePending(partialBytes: Int) throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: 3, errno: .noSpace, partialBytes: partialBytes)
            // Write 1 (seqs 1–3) is the writer thread's; then it is idle and writes 2 and 3 are ours.
            let session = try openInlineSession(path, policy: .never, io: io, preStart: sampleBodies(0..<3))
            defer { session.close() }
            #expect(session.observer.waitUntilWriterParked())
            // Asleep is not enough (a busy machine can catch it between two steps): it must have
            // found nothing to write and be waiting to be woken, so it cannot take the next batch.
            #expect(waitUntil { session.writer.writerIsWaiting })
            _ = try session.writer.append(sampleBodies(3..<6)).get()
            #expect(session.writer.writePending() == 6)
            // The third write fails.
            _ = try session.writer.append(sampleBodies(6..<9)).get()
            #expect(session.writer.writePending() == 6, "writePending returns the last good seq")
            #expect(session.observer.failureCount == 1, "the failure is reported before writePending returns")
            let (failure, lastDurable) = try #require(session.observer.failure)
            #expect(failure.operation == "write")
            #expect(failure.errno == .noSpace)
            #expect(lastDurable == 6)
            #expect(session.observer.durable == [3])
            #expect(session.observer.written == [6])

            var counters = session.writer.counters
            #expect(counters.failure == failure)
            #expect(counters.durableSeq == 6)
            #expect(counters.batches == 2)

            // From now on: appends fail with that failure, writePending changes nothing and reports nothing.
            for i in 0..<3 {
                #expect(session.writer.append([sampleBody(100 + i)]) == .failure(failure))
                #expect(session.writer.writePending() == 6)
            }
            #expect(session.observer.failureCount == 1, "the failure is recorded once")
            #expect(session.observer.reportsAfterFailure == 0)
            #expect(session.writer.counters.durableSeq == 6)

            session.close()
            counters = session.writer.counters
            #expect(counters.durableSeq == 6, "close claims nothing past the failure")
            #expect(session.observer.failureCount == 1)
            #expect(session.observer.reportsAfterFailure == 0)
            #expect(session.observer.maxReported == 6)
            #expect(io.snapshot.writes == 3)
            #expect(io.snapshot.writesAfterFailure == 0, "nothing written after the failed write")

            // Every acknowledged event is there; the failed batch (or its torn start) is not.
            let (events, recovery) = try reopenEvents(path)
            #expect(events.map(\.seq) == Array(1...6))
            #expect(events.map(\.body) == sampleBodies(0..<6))
            #expect((recovery.cutTail != nil) == (partialBytes > 0))
        }
    }

    @Test("a write failing on the writer thread (at close): logFailed once, nothing claimed past the last good write")
    func failedWriteOnWriterThread() throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: 2, errno: .ioError)
            let session = try openInlineSession(path, policy: .never, io: io)
            defer { session.close() }
            _ = try session.writer.append(sampleBodies(0..<3)).get()
            #expect(session.writer.writePending() == 3)
            _ = try session.writer.append(sampleBodies(3..<5)).get()
            session.close()
            #expect(session.observer.failureCount == 1)
            #expect(session.observer.failure?.failure.operation == "write")
            #expect(session.observer.failure?.lastDurableSeq == 3)
            #expect(session.writer.counters.durableSeq == 3)
            #expect(session.observer.maxReported == 3)
            #expect(session.observer.reportsAfterFailure == 0)
            #expect(session.writer.writePending() == 3)
            #expect(io.snapshot.writesAfterFailure == 0)
            #expect(try reopenEvents(path).events.map(\.body) == sampleBodies(0..<3))
        }
    }

    /// LogWriter: "After any failed write or fdatasync the writer stops for good"; the always-mode
    /// tests (`LogFileIOTests.checkAfterFailure`) hold it to "no fdatasync after the failure (never
    /// retried, not even by close)". Here an appender's write fails while `close()` is under way,
    /// with an earlier write still unsynced: the writer thread must see the failure before it
    /// touches the file again. The failing write is held until close has begun, so the order is fixed.
    @Test("a write failing in writePending as close begins: the writer thread does not fdatasync after it",
          arguments: [FsyncPolicy.never, .interval(milliseconds: 60_000)])
    func noSyncAfterFailedInlineWrite(_ policy: FsyncPolicy) throws {
        try withTempFolder { path in
            let io = HeldFailureIO(failWriteAt: 2)
            // Write 1 (seqs 1–3): the writer thread's, left unsynced; then it idles.
            let session = try openInlineSession(path, policy: policy, io: io, preStart: sampleBodies(0..<3))
            defer { io.release(); session.close() }
            #expect(session.observer.waitUntilWriterParked())
            // Asleep is not enough (a busy machine can catch it between two steps): it must have
            // found nothing to write and be waiting to be woken, so it cannot take the next batch.
            #expect(waitUntil { session.writer.writerIsWaiting })
            #expect(session.writer.counters.fsyncs == 0)

            // Write 2 fails, on another thread, once released.
            _ = try session.writer.append(sampleBodies(3..<6)).get()
            let appender = Thread { session.writer.writePending() }
            appender.start()
            #expect(io.failingWriteEntered.wait(timeout: .now() + 20) == .success)

            // close() on a third thread; an empty append fails once it has begun.
            let closer = Thread { session.close() }
            closer.start()
            #expect(waitUntil {
                if case .failure = session.writer.append([EventBody]()) { return true }
                return false
            })
            io.release()
            #expect(waitUntil { session.writer.counters.failure != nil })
            #expect(waitUntil { closer.isFinished }, "close() did not return")
            #expect(session.observer.failureCount == 1)
            #expect(session.observer.failure?.lastDurableSeq == 3)
            #expect(session.writer.counters.durableSeq == 3)
            #expect(io.syncsAfterFailure == 0, "the writer thread fdatasynced \(io.syncsAfterFailure) time(s) after the failed write")
            #expect(try reopenEvents(path).events.map(\.seq) == Array(1...3))
        }
    }

    /// Several appenders race through writePending while one write fails. Once a write has failed,
    /// no later batch may reach the file (its seqs would follow a hole) and nothing past the failed
    /// batch may be reported or counted durable. (A report of an earlier seq may still arrive after
    /// logFailed: its writer released the lock before the failing write took it.) Repeated, since
    /// it is a race.
    @Test("a failed write with concurrent appenders: no later batch is written, nothing past it is claimed, the log reopens")
    func failedWriteWithConcurrentAppenders() throws {
        for iteration in 0..<60 {
            var problems: [String] = []
            try withTempFolder { path in
                let io = FaultyIO(failWriteAt: 40, errno: .noSpace)
                let session = try openInlineSession(path, policy: .never, io: io)
                defer { session.close() }
                let writer = session.writer
                let group = DispatchGroup()
                for t in 0..<6 {
                    group.enter()
                    Thread {
                        for i in 0..<400 {
                            if case .failure = writer.append([EventBody.voteCast(poll: "t\(t)", voter: "v\(i)", option: "o")]) { break }
                            writer.writePending()
                        }
                        group.leave()
                    }.start()
                }
                group.wait()
                let durableBeforeClose = writer.counters.durableSeq
                session.close()
                guard let (_, lastDurable) = session.observer.failure else {
                    problems.append("no failure reported")
                    return
                }
                let counts = io.snapshot
                if counts.writesAfterFailure > 0 { problems.append("\(counts.writesAfterFailure) write(s) after the failed one") }
                if durableBeforeClose != lastDurable {
                    problems.append("durableSeq \(durableBeforeClose), but logFailed said the last durable seq is \(lastDurable)")
                }
                if session.observer.maxReported > lastDurable { problems.append("reported seq \(session.observer.maxReported) as written, past \(lastDurable)") }
                if let error = openError(path) {
                    problems.append("the log no longer opens: \(error)")
                } else {
                    let events = try reopenEvents(path).events
                    if events.map(\.seq) != (0..<events.count).map({ UInt64($0 + 1) }) || events.count < Int(lastDurable) {
                        problems.append("reopened \(events.count) events, last durable \(lastDurable)")
                    }
                }
            }
            if !problems.isEmpty {
                Issue.record("iteration \(iteration): \(problems.joined(separator: "; "))")
                return
            }
        }
    }
}
