@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// `WATCH *`: every poll, including polls created later; `UNWATCH *` and `UNWATCH` stop it.
@Suite("WATCH *")
struct WatchEveryPollTests {
    @Test func watchStarOnAnEmptyServerSeesTheFirstPoll() throws {
        try withServer { server in
            let watcher = try server.client()
            #expect(try watcher.request("WATCH *") == "OK watching 0")
            #expect(try watcher.linesArriving(within: 0.2).isEmpty)
            let voter = try server.client()
            #expect(try voter.request("CREATE lunch pizza,sushi Where?") == "OK 1")
            #expect(try watcher.expectLine() == "UPDATE lunch 1 open pizza=0 sushi=0 total=0")
            #expect(try voter.request("VOTE lunch ana sushi") == "OK 2")
            #expect(try watcher.expectLine() == "UPDATE lunch 2 open pizza=0 sushi=1 total=1")
            #expect(try watcher.requestBlock("STATS").contains("STAT watchers 1"))
        }
    }

    @Test func watchStarAnswersWithEveryPollInIdOrderThenFollowsNewOnes() throws {
        try withServer { server in
            let voter = try server.client()
            #expect(try voter.request("CREATE q x,y") == "OK 1")
            #expect(try voter.request("CREATE b a,b,c") == "OK 2")
            #expect(try voter.request("CREATE m yes,no") == "OK 3")
            #expect(try voter.request("VOTE q v x") == "OK 4")
            let watcher = try server.client()
            try watcher.send("watch *\n")
            #expect(try watcher.readLines(4) == [
                "OK watching 3",
                "UPDATE b 2 open a=0 b=0 c=0 total=0",
                "UPDATE m 3 open yes=0 no=0 total=0",
                "UPDATE q 4 open x=1 y=0 total=1",
            ])
            #expect(try watcher.linesArriving(within: 0.2).isEmpty)

            // A poll created later appears with its first UPDATE, then follows its votes.
            #expect(try voter.request("CREATE later one,two") == "OK 5")
            #expect(try watcher.expectLine() == "UPDATE later 5 open one=0 two=0 total=0")
            #expect(try voter.request("VOTE later v two") == "OK 6")
            #expect(try watcher.expectLine() == "UPDATE later 6 open one=0 two=1 total=1")
            // A closed poll pushes its final UPDATE.
            #expect(try voter.request("CLOSE later") == "OK 7")
            #expect(try watcher.expectLine() == "UPDATE later 7 closed one=0 two=1 total=1")
            #expect(try voter.request("VOTE later w one") == "ERR poll-closed poll later is closed")
            #expect(try watcher.linesArriving(within: 0.2).isEmpty)
            #expect(try watcher.request("TALLY later") == "TALLY later 7 closed one=0 two=1 total=1")
        }
    }

    @Test("UNWATCH * and a bare UNWATCH stop WATCH *, new polls included", arguments: ["UNWATCH *", "UNWATCH", "unwatch  *"])
    func unwatchStopsEverything(_ unwatch: String) throws {
        try withServer { server in
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            let watcher = try server.client()
            try watcher.send("WATCH *\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            #expect(try watcher.request(unwatch) == "OK")
            #expect(try voter.request("VOTE p v a") == "OK 2")
            #expect(try voter.request("CREATE q a,b") == "OK 3")
            #expect(try voter.request("VOTE q v b") == "OK 4")
            #expect(try watcher.linesArriving(within: 0.3).isEmpty)
            #expect(try voter.requestBlock("STATS").contains("STAT watchers 0"))
            // And it can watch again.
            try watcher.send("WATCH *\n")
            #expect(try watcher.readLines(3) == ["OK watching 2", "UPDATE p 2 open a=1 b=0 total=1", "UPDATE q 4 open a=0 b=1 total=1"])
        }
    }

    @Test func unwatchStarAlsoStopsNamedPolls() throws {
        try withServer { server in
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            let watcher = try server.client()
            try watcher.send("WATCH p\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            #expect(try watcher.request("UNWATCH *") == "OK")
            #expect(try voter.request("VOTE p v a") == "OK 2")
            #expect(try watcher.linesArriving(within: 0.3).isEmpty)
        }
    }

    /// A client creates 40 polls and votes in them while a `WATCH *` watcher reads: it ends on the
    /// TALLY of every one of them.
    @Test func watchStarConvergesOnPollsCreatedDuringAStorm() throws {
        try withServer { server in
            let watcher = try server.client()
            #expect(try watcher.request("WATCH *") == "OK watching 0")
            let port = server.port
            let polls = (0..<40).map { "poll\($0)" }
            try runConcurrently(2) { index in
                let client = try TestClient(port: port)
                for poll in polls.enumerated().filter({ $0.offset % 2 == index }).map(\.element) {
                    try client.send(lines: ["CREATE \(poll) a,b,c"] + (0..<30).map { "VOTE \(poll) v\($0) \(["a", "b", "c"][$0 % 3])" })
                    for reply in try client.readLines(31, timeout: 10) where okSeq(reply) == nil {
                        throw TestClientError("\(poll): \(reply)")
                    }
                }
            }
            let setup = try server.client()
            var expected: [String: String] = [:]
            for poll in polls { expected[poll] = updateLine(forTally: try setup.request("TALLY \(poll)")) }
            var log = WatcherLog()
            try LineSwarm([watcher]).pump(for: 5, until: { log.latest == expected }) { _, line in log.take(line) }
            #expect(log.latest == expected, "missing or stale: \(expected.filter { log.latest[$0.key] != $0.value }.keys.sorted())")
            #expect(log.problems.isEmpty, "\(log.problems.prefix(5))")
            #expect(log.other.isEmpty, "\(log.other.prefix(5))")
        }
    }
}
