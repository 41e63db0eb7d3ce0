@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// WATCH / UNWATCH: the initial UPDATE, coalesced pushes, convergence on the final tally.
@Suite("Watching over TCP")
struct WatchTests {
    @Test func watchAnswersWithCurrentTallies() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("CREATE q x,y,z") == "OK 2")
            #expect(try client.request("VOTE q v z") == "OK 3")
            try client.send("WATCH q p q\n")
            #expect(try client.readLines(3) == [
                "OK watching 2",
                "UPDATE q 3 open x=0 y=0 z=1 total=1",
                "UPDATE p 1 open a=0 b=0 total=0",
            ])
            #expect(try client.linesArriving(within: 0.2).isEmpty)
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func watchOfAnUnknownPollIsAnError() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("WATCH nosuch") == "ERR no-such-poll no poll named nosuch")
            #expect(try client.request("WATCH").hasPrefix("ERR bad-request usage: WATCH"))
            #expect(try client.request("WATCH bad/id").hasPrefix("ERR bad-request "))
            #expect(try client.request("CREATE p a,b") == "OK 1")
            // One unknown poll fails the whole request: nothing is watched.
            #expect(try client.request("WATCH p nosuch") == "ERR no-such-poll no poll named nosuch")
            let voter = try server.client()
            #expect(try voter.request("VOTE p v a") == "OK 2")
            #expect(try client.linesArriving(within: 0.3).isEmpty)
            #expect(try client.requestBlock("STATS").contains("STAT watchers 0"))
        }
    }

    @Test func updatesFollowVotesAndUnwatchStopsThem() throws {
        try withServer { server in
            let watcher = try server.client()
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            #expect(try voter.request("CREATE q a,b") == "OK 2")
            try watcher.send("WATCH p q\n")
            #expect(try watcher.readLines(3).first == "OK watching 2")
            #expect(try voter.requestBlock("STATS").contains("STAT watchers 1"))

            #expect(try voter.request("VOTE p v1 a") == "OK 3")
            #expect(try watcher.expectLine() == "UPDATE p 3 open a=1 b=0 total=1")
            #expect(try voter.request("VOTE q v1 b") == "OK 4")
            #expect(try watcher.expectLine() == "UPDATE q 4 open a=0 b=1 total=1")

            // UNWATCH one poll: updates for the other still come.
            #expect(try watcher.request("UNWATCH p") == "OK")
            #expect(try voter.request("VOTE p v2 a") == "OK 5")
            #expect(try voter.request("VOTE q v2 a") == "OK 6")
            #expect(try watcher.expectLine() == "UPDATE q 6 open a=1 b=1 total=2")
            #expect(try watcher.linesArriving(within: 0.3).isEmpty)

            // UNWATCH with no poll stops everything.
            #expect(try watcher.request("UNWATCH") == "OK")
            #expect(try voter.request("VOTE p v3 b") == "OK 7")
            #expect(try voter.request("VOTE q v3 b") == "OK 8")
            #expect(try voter.request("CLOSE q") == "OK 9")
            #expect(try watcher.linesArriving(within: 0.3).isEmpty)
            #expect(try watcher.request("PING") == "PONG")
            #expect(try watcher.request("UNWATCH nothing") == "OK")
            #expect(try voter.requestBlock("STATS").contains("STAT watchers 0"))
        }
    }

    @Test func closeIsPushedToWatchers() throws {
        try withServer { server in
            let watcher = try server.client()
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            try watcher.send("WATCH p\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            #expect(try voter.request("VOTE p v b") == "OK 2")
            #expect(try watcher.expectLine() == "UPDATE p 2 open a=0 b=1 total=1")
            #expect(try voter.request("CLOSE p") == "OK 3")
            #expect(try watcher.expectLine() == "UPDATE p 3 closed a=0 b=1 total=1")
        }
    }

    /// Several clients storm one poll; after the last acknowledgement the watcher's newest UPDATE
    /// matches TALLY within 2 s, and its UPDATE seqs only ever grow.
    @Test func watcherConvergesOnTheFinalTally() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE storm a,b,c,d") == "OK 1")
            let watcher = try server.client()
            try watcher.send("WATCH storm\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE storm 1 open a=0 b=0 c=0 d=0 total=0"])

            let clients = 4, votesPerClient = 500
            let port = server.port
            try runConcurrently(clients) { index in
                let client = try TestClient(port: port)
                var rng = SplitMix64(seed: UInt64(index) + 7)
                for chunk in 0..<(votesPerClient / 50) {
                    let lines = (0..<50).map { i -> String in
                        let voter = "c\(index)v\(Int.random(in: 0..<200, using: &rng))"
                        let option = ["a", "b", "c", "d"][Int.random(in: 0..<4, using: &rng)]
                        return i % 10 == 9 ? "UNVOTE storm \(voter)" : "VOTE storm \(voter) \(option)"
                    }
                    try client.send(lines: lines)
                    let replies = try client.readLines(50, timeout: 10)
                    for reply in replies where !(reply.hasPrefix("OK ") || reply.hasPrefix("ERR no-vote ")) {
                        throw TestClientError("chunk \(chunk): unexpected reply \(reply)")
                    }
                }
            }
            let tally = try setup.request("TALLY storm")
            #expect(tally.hasPrefix("TALLY storm "))
            let wanted = "UPDATE " + tally.dropFirst("TALLY ".count)

            var updates: [String] = []
            let deadline = TestClient.now() + 2
            while updates.last != wanted, TestClient.now() < deadline {
                updates += try watcher.linesArriving(within: 0.05)
            }
            #expect(updates.last == wanted, "last update \(updates.last ?? "none"), TALLY \(tally)")
            // Nothing more is pushed once the poll is quiet.
            #expect(try watcher.linesArriving(within: 0.2).isEmpty)
            let parsed = updates.map { ParsedTally($0, prefix: "UPDATE") }
            #expect(parsed.allSatisfy { $0 != nil }, "\(updates.filter { ParsedTally($0, prefix: "UPDATE") == nil })")
            let seqs = parsed.compactMap { $0?.seq }
            #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "UPDATE seqs not increasing: \(seqs)")
            // Coalesced: far fewer pushes than events.
            #expect(updates.count < clients * votesPerClient / 2)
        }
    }

    /// Pushed UPDATE lines never split a multi-line reply.
    @Test func updatesNeverInterleaveWithABlockReply() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE p a,b Question") == "OK 1")
            let port = server.port
            let seen = Locked((blocks: 0, updates: 0, problems: [String]()))
            try runConcurrently(2) { index in
                if index == 0 {
                    let voter = try TestClient(port: port)
                    for chunk in 0..<40 {
                        try voter.send(lines: (0..<25).map { "VOTE p v\(chunk * 25 + $0) \($0 % 2 == 0 ? "a" : "b")" })
                        _ = try voter.readLines(25, timeout: 10)
                    }
                    return
                }
                let watcher = try TestClient(port: port)
                try watcher.send("WATCH p\n")
                _ = try watcher.readLines(2)
                for _ in 0..<20 {
                    // Block requests pipelined while votes (and so updates) keep coming.
                    try watcher.send(lines: (0..<20).map { $0 % 2 == 0 ? "RESULTS p" : "POLLS" })
                    var blocks = 0
                    var inBlock: [String]? = nil
                    while blocks < 20 {
                        let line = try watcher.expectLine(timeout: 10)
                        if var block = inBlock {
                            if line.hasPrefix("UPDATE ") { seen.withLock { $0.problems.append("UPDATE inside \(block)") } }
                            block.append(line)
                            inBlock = line == "END" ? nil : block
                            if line == "END" { blocks += 1 }
                        } else if line.hasPrefix("UPDATE ") {
                            seen.withLock { $0.updates += 1 }
                        } else if line.hasPrefix("RESULTS p ") || line.hasPrefix("POLL p ") {
                            inBlock = [line]
                        } else {
                            seen.withLock { $0.problems.append("unexpected line \(line)") }
                        }
                    }
                    seen.withLock { $0.blocks += blocks }
                }
            }
            let result = seen.withLock { $0 }
            #expect(result.problems.isEmpty, "\(result.problems.prefix(3))")
            #expect(result.blocks == 400)
        }
    }

    /// A watcher that half-closes keeps getting updates; server shutdown says BYE.
    @Test func halfClosedWatcherKeepsReceivingUpdates() throws {
        let server = try TestServer()
        defer { server.finish() }
        let voter = try server.client()
        #expect(try voter.request("CREATE p a,b") == "OK 1")
        let watcher = try server.client()
        try watcher.send("WATCH p\n")
        try watcher.shutdownWrite()
        #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
        #expect(try voter.request("VOTE p v a") == "OK 2")
        #expect(try watcher.expectLine() == "UPDATE p 2 open a=1 b=0 total=1")
        server.shutdown()
        #expect(try watcher.readUntilEOF() == ["BYE server shutting down"])
        #expect(try voter.readUntilEOF() == ["BYE server shutting down"])
    }
}
