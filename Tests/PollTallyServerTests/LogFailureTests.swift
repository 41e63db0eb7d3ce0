import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import Synchronization
import Testing

/// A log file layer that fails every `write` (or `fdatasync`) after the first `n`.
final class FailingLogIO: LogFileIO {
    private let writes = Atomic<Int>(0)
    private let syncs = Atomic<Int>(0)
    let failWritesAfter: Int
    let failSyncsAfter: Int

    init(failWritesAfter: Int = .max, failSyncsAfter: Int = .max) {
        self.failWritesAfter = failWritesAfter
        self.failSyncsAfter = failSyncsAfter
    }

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor) throws(Errno) {
        if writes.wrappingAdd(1, ordering: .relaxed).oldValue >= failWritesAfter { throw .noSpace }
        try fd.writeAll(bytes)
    }

    func dataSync(_ fd: FileDescriptor) throws(Errno) {
        if syncs.wrappingAdd(1, ordering: .relaxed).oldValue >= failSyncsAfter { throw .ioError }
        try fd.dataSync()
    }
}

/// When the log cannot be written: commands answer `ERR unavailable`, reads keep working.
@Suite("Log failure over TCP")
struct LogFailureTests {
    @Test func failedWriteAnswersUnavailable() throws {
        try withServer(configure: { $0.logIO = FailingLogIO(failWritesAfter: 0) }) { server in
            let client = try server.client()
            let reply = try client.request("CREATE p a,b")
            #expect(reply.hasPrefix("ERR unavailable "), "\(reply)")
            #expect(try client.request("CREATE q a,b").hasPrefix("ERR unavailable "))
            #expect(try client.request("PING") == "PONG")
            #expect(try client.requestBlock("POLLS") == ["END"])
            let stats = try client.requestBlock("STATS")
            #expect(stats.contains("STAT writable no"))
        }
    }

    @Test func failedSyncAnswersUnavailableAndKeepsDurableTally() throws {
        try withServer(configure: { $0.logIO = FailingLogIO(failSyncsAfter: 2) }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("VOTE p v1 a") == "OK 2")
            let failed = try client.request("VOTE p v2 b")
            #expect(failed.hasPrefix("ERR unavailable "), "\(failed)")
            #expect(try client.request("VOTE p v3 b").hasPrefix("ERR unavailable "))
            #expect(try client.request("PING") == "PONG")
            // Reads still work, and show only what was durable.
            #expect(try client.requestBlock("POLLS") == ["POLL p open 2 total=1 a,b", "END"])
        }
    }

    /// "reads still work": a TALLY or RESULTS of a poll whose last accepted vote never became
    /// durable is answered from the durable state (the vote was refused, so it is not counted).
    @Test func tallyAfterFailedVoteIsAnswered() throws {
        try withServer(configure: { $0.logIO = FailingLogIO(failSyncsAfter: 3) }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("CREATE q a,b") == "OK 2")
            #expect(try client.request("VOTE p v1 a") == "OK 3")
            #expect(try client.request("VOTE p v2 b").hasPrefix("ERR unavailable "))
            // A poll untouched by the failure reads fine.
            #expect(try server.client().request("TALLY q") == "TALLY q 2 open a=0 b=0 total=0")
            // The poll whose vote failed: each read on its own connection, so one hang does not hide the other.
            let tally = try? server.client().request("TALLY p", timeout: 3)
            #expect(tally == "TALLY p 3 open a=1 b=0 total=1", "TALLY p after a failed vote: \(tally ?? "no reply within 3 s")")
            let results = try? server.client().requestBlock("RESULTS p", timeout: 3)
            #expect(results?.first == "RESULTS p 3 open total=1", "RESULTS p after a failed vote: \(results?.first ?? "no reply within 3 s")")
        }
    }
}
