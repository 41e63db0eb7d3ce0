import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import PollTallyTestSupport
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

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        if writes.wrappingAdd(1, ordering: .relaxed).oldValue >= failWritesAfter { throw .noSpace }
        try fd.writeAll(bytes, at: offset)
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

    /// Under `never` and `interval` a shard writes the log itself (`writePending`) and a command is
    /// acknowledged once written. A failed write: that command and every later write answer
    /// `ERR unavailable`, reads still answer, and every vote acknowledged before is counted, both
    /// now and after a restart with a working log.
    @Test(arguments: [FsyncPolicy.never, .interval(milliseconds: 1000)])
    func failedWriteWithoutSyncAnswersUnavailableAndKeepsAcknowledgedVotes(_ policy: FsyncPolicy) throws {
        try withServer(configure: { $0.logIO = FailingLogIO(failWritesAfter: 4); $0.fsync = policy }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("VOTE p v1 a") == "OK 2")
            #expect(try client.request("VOTE p v2 b") == "OK 3")
            #expect(try client.request("VOTE p v3 b") == "OK 4")
            let failed = try client.request("VOTE p v4 a")
            #expect(failed.hasPrefix("ERR unavailable "), "\(failed)")
            #expect(try client.request("VOTE p v5 a").hasPrefix("ERR unavailable "))
            #expect(try client.request("CREATE q x,y").hasPrefix("ERR unavailable "))
            #expect(try client.request("PING") == "PONG")
            // Reads answer, from what was acknowledged.
            #expect((try? server.client().request("TALLY p", timeout: 3)) == "TALLY p 4 open a=1 b=2 total=3")
            #expect((try? server.client().requestBlock("POLLS", timeout: 3)) == ["POLL p open 4 total=3 a,b", "END"])
            #expect(try client.requestBlock("STATS").contains("STAT writable no"))

            // The acknowledged votes are in the log: a restart with a working log counts them.
            try server.restart { $0.fsync = policy }
            #expect(try server.client().request("TALLY p") == "TALLY p 4 open a=1 b=2 total=3")
        }
    }

    /// The same with several connections pipelining votes to polls on different shards, so that
    /// several shards write the log at once when one write fails. Every vote answered `OK` must
    /// be counted, after a restart too; every other answer is `ERR unavailable`.
    @Test func concurrentVotesAcrossAFailedWriteUnderNever() throws {
        let polls = (0..<8).map { "p\($0)" }
        try withServer(configure: { $0.logIO = FailingLogIO(failWritesAfter: 60); $0.fsync = .never; $0.shards = 4 }) { server in
            let setup = try server.client()
            for (i, poll) in polls.enumerated() { #expect(try setup.request("CREATE \(poll) a,b") == "OK \(i + 1)") }
            let acks = Locked([String: [String: String]]())   // poll → voter → option
            let others = Locked([String]())
            let port = server.port
            try runConcurrently(8) { index in
                let client = try TestClient(port: port)
                let poll = polls[index]
                for round in 0..<20 {
                    let votes = (0..<20).map { (voter: "c\(index)-r\(round)-v\($0)", option: $0 % 3 == 0 ? "b" : "a") }
                    try client.send(lines: votes.map { "VOTE \(poll) \($0.voter) \($0.option)" })
                    var refused = false
                    for vote in votes {
                        let reply = try client.readLine(timeout: 10) ?? "no reply"
                        if okSeq(reply) != nil {
                            acks.withLock { $0[poll, default: [:]][vote.voter] = vote.option }
                        } else {
                            refused = true
                            if !reply.hasPrefix("ERR unavailable ") { others.withLock { $0.append(reply) } }
                        }
                    }
                    if refused { return }
                }
            }
            #expect(others.withLock { $0 }.isEmpty, "\(others.withLock { $0.prefix(3) })")
            #expect(try setup.request("VOTE p0 late a").hasPrefix("ERR unavailable "), "the log failed, writes are refused")
            #expect(try setup.request("PING") == "PONG")

            let acked = acks.withLock { $0 }
            func expectedTally(_ poll: String) -> String {
                let votes = acked[poll] ?? [:]
                let a = votes.values.filter { $0 == "a" }.count
                return "open a=\(a) b=\(votes.count - a) total=\(votes.count)"
            }
            for poll in polls {
                let tally = (try? server.client().request("TALLY \(poll)", timeout: 3)) ?? "no reply"
                #expect(tally.hasSuffix(expectedTally(poll)), "before restart: \(tally), acknowledged \(acked[poll]?.count ?? 0)")
            }

            // A restart with a working log reads back every acknowledged vote (and opens at all).
            try server.restart { $0.fsync = .never; $0.shards = 4 }
            for poll in polls {
                let tally = (try? server.client().request("TALLY \(poll)", timeout: 3)) ?? "no reply"
                #expect(tally.hasSuffix(expectedTally(poll)), "after restart: \(tally), acknowledged \(acked[poll]?.count ?? 0)")
            }
        }
    }
}
