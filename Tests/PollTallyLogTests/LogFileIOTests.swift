import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore

/// A `LogFileIO` that delegates to the real syscalls but fails the Nth write or the Nth dataSync.
final class FaultyIO: LogFileIO {
    struct Counts {
        var writes = 0
        var syncs = 0
        var failed = false
        var writesAfterFailure = 0
        var syncsAfterFailure = 0
    }

    let failWriteAt: Int?
    let failSyncAt: Int?
    let errno: Errno
    /// When failing a write, how many of its bytes reach the file first (a short write then an error).
    let partialBytes: Int
    let counts = Mutex(Counts())

    init(failWriteAt: Int? = nil, failSyncAt: Int? = nil, errno: Errno, partialBytes: Int = 0) {
        self.failWriteAt = failWriteAt
        self.failSyncAt = failSyncAt
        self.errno = errno
        self.partialBytes = partialBytes
    }

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        let n: Int = counts.withLock { counts in
            counts.writes += 1
            if counts.failed { counts.writesAfterFailure += 1 }
            return counts.writes
        }
        if n == failWriteAt {
            counts.withLock { $0.failed = true }
            if partialBytes > 0 { try fd.writeAll(UnsafeRawBufferPointer(rebasing: bytes.prefix(partialBytes)), at: offset) }
            throw errno
        }
        try fd.writeAll(bytes, at: offset)
    }

    func dataSync(_ fd: FileDescriptor) throws(Errno) {
        let n: Int = counts.withLock { counts in
            counts.syncs += 1
            if counts.failed { counts.syncsAfterFailure += 1 }
            return counts.syncs
        }
        if n == failSyncAt {
            counts.withLock { $0.failed = true }
            throw errno
        }
        try fd.dataSync()
    }

    var snapshot: Counts { counts.withLock { $0 } }
}

@Suite("LogFileIO fault injection")
struct LogFileIOTests {
    /// Appends batches of three, one at a time (each waited for), until the log fails; returns the receipts.
    static func appendUntilFailure(_ session: LogSession, maxBatches: Int = 10) -> [Result<LogWriter.Receipt, LogFailure>] {
        var results: [Result<LogWriter.Receipt, LogFailure>] = []
        for b in 0..<maxBatches {
            let result = session.appendAndWait(sampleBodies(b * 3..<b * 3 + 3))
            results.append(result)
            if session.observer.failureCount > 0 { break }
        }
        return results
    }

    /// Checks what every failure case shares: the observer and counters agree, appends fail from now
    /// on, nothing is retried, and a reopen with the real IO finds every acknowledged event.
    static func checkAfterFailure(_ path: String, _ session: LogSession, _ io: FaultyIO, operation: String, errno: Errno,
                                  expectedDurable: UInt64, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(waitUntil { session.observer.failureCount > 0 }, sourceLocation: sourceLocation)
        guard let (failure, lastDurable) = session.observer.failure else { return }
        #expect(failure.operation == operation, sourceLocation: sourceLocation)
        #expect(failure.errno == errno, sourceLocation: sourceLocation)
        #expect(lastDurable == expectedDurable, sourceLocation: sourceLocation)

        // Every later append fails with that failure.
        for i in 0..<3 {
            #expect(session.writer.append([sampleBody(1000 + i)]) == .failure(failure), sourceLocation: sourceLocation)
        }
        let before = session.writer.counters
        #expect(before.failure == failure, sourceLocation: sourceLocation)
        #expect(before.durableSeq == expectedDurable, sourceLocation: sourceLocation)
        session.close()

        let counters = session.writer.counters
        #expect(counters.durableSeq == expectedDurable, "counters never claim durability past the failure", sourceLocation: sourceLocation)
        #expect(session.observer.maxDurable == expectedDurable, sourceLocation: sourceLocation)
        #expect(session.observer.durableAfterFailure == 0, sourceLocation: sourceLocation)
        #expect(session.observer.failureCount == 1, sourceLocation: sourceLocation)
        let counts = io.snapshot
        #expect(counts.writesAfterFailure == 0, "no write after the failure", sourceLocation: sourceLocation)
        #expect(counts.syncsAfterFailure == 0, "no fdatasync after the failure (never retried, not even by close)", sourceLocation: sourceLocation)

        // Everything acknowledged is there, with the real IO.
        let (events, _) = try reopenEvents(path)
        #expect(events.count >= Int(expectedDurable), sourceLocation: sourceLocation)
        #expect(Array(events.prefix(Int(expectedDurable)).map(\.body)) == sampleBodies(0..<Int(expectedDurable)), sourceLocation: sourceLocation)
        #expect(events.map(\.seq) == (0..<events.count).map { UInt64($0 + 1) }, "seqs 1…n without gaps", sourceLocation: sourceLocation)
    }

    @Test("a write failing with ENOSPC: logFailed, later appends fail, acknowledged events survive", arguments: [1, 2, 4])
    func writeFailsNoSpace(_ n: Int) throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: n, errno: .noSpace)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            let results = Self.appendUntilFailure(session)
            #expect(results.count == n)
            let durable = UInt64((n - 1) * 3)
            try Self.checkAfterFailure(path, session, io, operation: "write", errno: .noSpace, expectedDurable: durable)
            #expect(io.snapshot.writes == n)
            #expect(io.snapshot.syncs == n - 1, "one fdatasync per successful batch, none for the failed one")

            // Nothing of the failed write reached the file: the log ends at the last durable event,
            // and a new writer continues right after it.
            let session2 = try openSession(path)
            #expect(session2.recovery.lastSeq == durable)
            #expect(session2.recovery.cutTail == nil)
            #expect(try session2.appendAndWait([sampleBody(500)]).get().firstSeq == durable + 1)
            session2.close()
        }
    }

    @Test("a short write then EIO leaves a torn tail that recovery cuts; acknowledged events survive")
    func partialWriteThenEIO() throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: 3, errno: .ioError, partialBytes: 50)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            _ = Self.appendUntilFailure(session)
            try Self.checkAfterFailure(path, session, io, operation: "write", errno: .ioError, expectedDurable: 6)

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil, "the first reopen (inside checkAfterFailure) already cut the tail")
            #expect(events.count >= 6)
        }
    }

    @Test("a partial write's torn tail is reported by the first reopen")
    func partialWriteTornTailReported() throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: 2, errno: .ioError, partialBytes: 30)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            _ = Self.appendUntilFailure(session)
            #expect(waitUntil { session.observer.failureCount > 0 })
            session.close()
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let validLength = try scanAll(path).summary.lastSegmentValidLength
            let (events, recovery) = try reopenEvents(path)
            #expect(events.map(\.body) == sampleBodies(0..<3) + (events.count > 3 ? sampleBodies(3..<events.count) : []))
            #expect(events.count >= 3)
            #expect(recovery.cutTail?.path == segmentPath)
            #expect(recovery.cutTail?.offset == validLength)
            #expect(try fileSize(segmentPath) == validLength)
        }
    }

    @Test("a failing fdatasync under always: logFailed with the last synced seq, never retried", arguments: [1, 2, 3])
    func dataSyncFails(_ n: Int) throws {
        try withTempFolder { path in
            let io = FaultyIO(failSyncAt: n, errno: .ioError)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            let results = Self.appendUntilFailure(session)
            #expect(results.count == n)
            try Self.checkAfterFailure(path, session, io, operation: "fdatasync", errno: .ioError, expectedDurable: UInt64((n - 1) * 3))
            #expect(io.snapshot.syncs == n, "the failed fdatasync was the last one")
            #expect(io.snapshot.writes == n)
        }
    }

    @Test("a failing fdatasync under interval: logFailed with what was acknowledged, no more syncs")
    func dataSyncFailsInterval() throws {
        try withTempFolder { path in
            let io = FaultyIO(failSyncAt: 1, errno: .ioError)
            let session = try openSession(path, options: EventLog.Options(fsync: .interval(milliseconds: 50), io: io))
            // Under interval, events are acknowledged once written; the first sync (within ~50 ms) fails.
            session.appendAndWait(sampleBodies(0..<3))
            #expect(waitUntil { session.observer.failureCount > 0 })
            let acknowledged = session.observer.maxDurable
            #expect(acknowledged == 3)
            try Self.checkAfterFailure(path, session, io, operation: "fdatasync", errno: .ioError, expectedDurable: acknowledged)
            #expect(io.snapshot.syncs == 1)
        }
    }

    @Test("the fdatasync of a segment roll failing stops the log")
    func rollSyncFails() throws {
        try withTempFolder { path in
            let io = FaultyIO(failSyncAt: 1, errno: .ioError)
            // Under never, the only fdatasync before close is the one that seals a full segment.
            let session = try openSession(path, options: EventLog.Options(fsync: .never, segmentSize: 200, io: io))
            let results = Self.appendUntilFailure(session, maxBatches: 20)
            #expect(results.count > 1)
            let acknowledged = session.observer.maxDurable
            #expect(acknowledged > 0)
            try Self.checkAfterFailure(path, session, io, operation: "fdatasync", errno: .ioError, expectedDurable: acknowledged)
            #expect(io.snapshot.syncs == 1)
            #expect(try LogDirectory(path: path).segments().count == 1, "no new segment after the failed roll")
        }
    }

    @Test("ENOSPC on the very first write: nothing was ever durable, the log reopens empty")
    func firstWriteFails() throws {
        try withTempFolder { path in
            let io = FaultyIO(failWriteAt: 1, errno: .noSpace)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            _ = Self.appendUntilFailure(session)
            #expect(session.observer.durableReports.isEmpty)
            try Self.checkAfterFailure(path, session, io, operation: "write", errno: .noSpace, expectedDurable: 0)
            let session2 = try openSession(path)
            #expect(session2.recovery.events == 0)
            #expect(try session2.appendAndWait([sampleBody(0)]).get().firstSeq == 1)
            session2.close()
        }
    }

    @Test("appends racing the failure: none is acknowledged past the last durable seq")
    func concurrentAppendsDuringFailure() throws {
        try withTempFolder { path in
            let io = FaultyIO(failSyncAt: 5, errno: .ioError)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            let box = appendConcurrently(session.writer, threads: 4, perThread: 500)
            // However the appends were grouped, keep syncing single events until the fifth sync fails.
            for i in 0..<10 where session.observer.failureCount == 0 {
                session.appendAndWait([sampleBody(i)])
            }
            #expect(waitUntil { session.observer.failureCount > 0 })
            let (failure, lastDurable) = try #require(session.observer.failure)
            #expect(failure.operation == "fdatasync")
            #expect(session.writer.append([sampleBody(0)]) == .failure(failure))
            session.close()
            #expect(session.writer.counters.durableSeq == lastDurable)
            #expect(session.observer.maxDurable == lastDurable)
            #expect(io.snapshot.syncs == 5)
            #expect(io.snapshot.syncsAfterFailure == 0)
            #expect(box.receipts.withLock { $0.values.map(\.count).reduce(0, +) } > 0)
            let (events, _) = try reopenEvents(path)
            #expect(events.count >= Int(lastDurable))
            #expect(events.map(\.seq) == Array(1...UInt64(events.count)))
        }
    }
}
