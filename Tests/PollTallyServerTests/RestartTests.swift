import PollTallyCore
import PollTallyTestSupport
import PollTallyLog
@testable import PollTallyServer
import Testing

/// Shutting a server down and starting another on the same folder, in process.
@Suite("Server restart in process")
struct RestartTests {
    @Test func tallySurvivesRestartAndSeqsContinue() throws {
        let server = try TestServer()
        defer { server.finish() }
        var client = try server.client()
        #expect(try client.request("CREATE lunch pizza,sushi,tacos Where?") == "OK 1")
        #expect(try client.request("CREATE dinner a,b") == "OK 2")
        try client.send(lines: (0..<200).map { "VOTE lunch v\($0) \(["pizza", "sushi", "tacos"][$0 % 3])" })
        #expect(try client.readLines(200) == (3...202).map { "OK \($0)" })
        #expect(try client.request("UNVOTE lunch v0") == "OK 203")
        #expect(try client.request("VOTE dinner d1 b") == "OK 204")
        #expect(try client.request("CLOSE dinner") == "OK 205")
        let before = try ["lunch", "dinner"].map { try client.request("TALLY \($0)") }
        let pollsBefore = try client.requestBlock("POLLS")
        let resultsBefore = try client.requestBlock("RESULTS lunch")

        try server.restart()
        #expect(server.server.recovery.events == 205)
        #expect(server.server.recovery.lastSeq == 205)
        #expect(server.server.recovery.cutTail == nil)
        client = try server.client()
        #expect(try ["lunch", "dinner"].map { try client.request("TALLY \($0)") } == before)
        #expect(try client.requestBlock("POLLS") == pollsBefore)
        #expect(try client.requestBlock("RESULTS lunch") == resultsBefore)
        // State carried over: repeats, closed polls, existing polls.
        #expect(try client.request("VOTE lunch v1 sushi") == "OK 4")
        #expect(try client.request("VOTE dinner d2 a") == "ERR poll-closed poll dinner is closed")
        #expect(try client.request("CREATE lunch x,y") == "ERR poll-exists poll lunch already exists")
        #expect(try client.request("UNVOTE lunch v0") == "ERR no-vote v0 has no vote in poll lunch")
        // New events continue the seqs.
        #expect(try client.request("VOTE lunch v1 pizza") == "OK 206")
        #expect(try client.request("TALLY lunch") == "TALLY lunch 206 open pizza=67 sushi=66 tacos=66 total=199")

        try server.restart()
        client = try server.client()
        #expect(try client.request("TALLY lunch") == "TALLY lunch 206 open pizza=67 sushi=66 tacos=66 total=199")
        #expect(try client.request("CREATE breakfast a,b") == "OK 207")
        #expect(try replayTallyLines(server.logPath) == [
            try client.request("TALLY breakfast"), try client.request("TALLY dinner"), try client.request("TALLY lunch"),
        ])
    }

    @Test func restartOfAnEmptyFolder() throws {
        let server = try TestServer()
        defer { server.finish() }
        try server.restart()
        #expect(server.server.recovery.events == 0)
        let client = try server.client()
        #expect(try client.requestBlock("POLLS") == ["END"])
        #expect(try client.request("CREATE p a,b") == "OK 1")
    }

    @Test func secondServerOnTheSameFolderIsRefused() throws {
        let server = try TestServer()
        defer { server.finish() }
        var config = ServerConfig()
        config.port = 0
        config.dataPath = server.logPath
        do {
            let other = try Server.start(config)
            other.shutdown()
            Issue.record("a second server started on a folder in use")
        } catch {
            #expect("\(error)".contains("in use"), "\(error)")
        }
        // The first is unaffected.
        #expect(try server.client().request("PING") == "PONG")
    }

    /// Shutdown answers every command it accepted, says BYE, and everything acknowledged survives.
    @Test func shutdownWithPipelinedClientsLosesNothingAcknowledged() throws {
        let server = try TestServer()
        defer { server.finish() }
        let setup = try server.client()
        #expect(try setup.request("CREATE p a,b") == "OK 1")
        let clients = try (0..<3).map { _ in try server.client() }
        for (index, client) in clients.enumerated() {
            try client.send(lines: (0..<3000).map { "VOTE p c\(index)v\($0) \($0 % 2 == 0 ? "a" : "b")" })
        }
        // Wait until each client has some replies, then shut down mid-stream.
        var received: [[String]] = []
        for client in clients { received.append([try client.expectLine(timeout: 10)]) }
        server.shutdown()
        for (index, client) in clients.enumerated() {
            received[index] += try client.readUntilEOF(timeout: 10)
        }
        var acknowledged: [(voter: String, option: String, seq: UInt64)] = []
        for (index, replies) in received.enumerated() {
            #expect(replies.last == "BYE server shutting down", "client \(index) ended with \(replies.suffix(2))")
            for (i, reply) in replies.dropLast().enumerated() {
                guard let seq = okSeq(reply) else { Issue.record("client \(index) reply #\(i): \(reply)"); continue }
                acknowledged.append(("c\(index)v\(i)", i % 2 == 0 ? "a" : "b", seq))
            }
        }
        try server.restart()
        let events = Dictionary(uniqueKeysWithValues: try scanEvents(server.logPath).map { ($0.seq, $0.body) })
        let missing = acknowledged.filter { events[$0.seq] != .voteCast(poll: "p", voter: $0.voter, option: $0.option) }
        #expect(missing.isEmpty, "acknowledged but not in the log: \(missing.prefix(5))")
        let tally = try #require(ParsedTally(try server.client().request("TALLY p")))
        #expect(tally.total >= acknowledged.count)
        #expect(tally.total == events.count - 1)
    }
}
