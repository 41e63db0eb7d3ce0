import Dispatch
import Foundation
import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore

/// An observer that notes the thread each durability report arrives on.
final class ThreadNotingObserver: DurabilityObserver {
    let reports = Mutex<[(seq: UInt64, thread: Int32)]>([])

    func logIsDurable(upTo seq: UInt64) {
        let thread = currentThreadID()
        reports.withLock { $0.append((seq, thread)) }
    }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {}

    var last: (seq: UInt64, thread: Int32)? { reports.withLock { $0.last } }
}

/// Where a job ran: the kernel's id of its thread, once it has.
final class JobRecord: Sendable {
    private let thread = Mutex<Int32?>(nil)

    func ran() { thread.withLock { $0 = currentThreadID() } }
    var ranOn: Int32? { thread.withLock { $0 } }
}

/// `LogWriter.runOnIdleWriter`: under `always`, work handed to the idle writer thread runs there
/// before its next write, so what it appends is synced without another thread being woken.
@Suite("LogWriter running work on its idle thread")
struct LogWriterIdleWorkTests {
    /// Opens a log in `path` with `io` and starts its writer with `observer`.
    static func open(_ path: String, fsync: FsyncPolicy, io: any LogFileIO = SystemLogFileIO(), observer: any DurabilityObserver) throws -> EventLog.Opened {
        let opened = try EventLog.open(LogDirectory(path: path), options: EventLog.Options(fsync: fsync, io: io)) { _, _ throws(LogError) in }
        opened.writer.start(observer: observer)
        return opened
    }

    @Test func theIdleWriterRunsTheWorkAndSyncsWhatItAppended() throws {
        try withTempFolder { path in
            let observer = ThreadNotingObserver()
            let opened = try Self.open(path, fsync: .always, observer: observer)
            defer { opened.writer.close(); opened.lock.close() }
            #expect(waitUntil { opened.writer.writerIsWaiting })

            let record = JobRecord()
            let writer = opened.writer
            let accepted = writer.runOnIdleWriter {
                record.ran()
                _ = writer.append(CollectionOfOne(sampleBody(0)))
            }
            #expect(accepted)
            #expect(waitUntil { observer.last?.seq == 1 })
            let job = try #require(record.ranOn)
            #expect(job != currentThreadID())
            #expect(observer.last?.thread == job, "the work ran on the writer thread, which then reported the sync")
            #expect(writer.counters.durableSeq == 1)
            #expect(writer.counters.fsyncs == 1)
        }
    }

    @Test(arguments: [FsyncPolicy.interval(milliseconds: 5), .never])
    func withoutFsyncAlwaysTheWorkIsRefused(_ policy: FsyncPolicy) throws {
        try withTempFolder { path in
            let opened = try Self.open(path, fsync: policy, observer: ThreadNotingObserver())
            defer { opened.lock.close() }
            #expect(waitUntil { opened.writer.writerIsWaiting })
            let record = JobRecord()
            #expect(!opened.writer.runOnIdleWriter { record.ran() })
            // Closing runs whatever the writer was handed: nothing, here.
            opened.writer.close()
            #expect(record.ranOn == nil)
        }
    }

    @Test func aWriterBusySyncingRefusesAndRunsNothing() throws {
        try withTempFolder { path in
            let io = SyncGateIO()
            let opened = try Self.open(path, fsync: .always, io: io, observer: ThreadNotingObserver())
            defer { opened.lock.close() }
            _ = opened.writer.append(CollectionOfOne(sampleBody(0)))
            io.syncEntered.wait()
            let record = JobRecord()
            #expect(!opened.writer.runOnIdleWriter { record.ran() })
            io.release()
            opened.writer.close()
            #expect(record.ranOn == nil)
            #expect(opened.writer.counters.durableSeq == 1)
        }
    }

    @Test func aClosedWriterRefuses() throws {
        try withTempFolder { path in
            let opened = try Self.open(path, fsync: .always, observer: ThreadNotingObserver())
            opened.writer.close()
            opened.lock.close()
            #expect(!opened.writer.runOnIdleWriter {})
        }
    }
}
