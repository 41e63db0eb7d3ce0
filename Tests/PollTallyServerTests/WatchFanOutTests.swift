@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// Fan-out of coalesced UPDATE lines: several watchers over several polls under a storm of votes,
/// and a thousand watchers on one poll. No timing assertions: only convergence and counts.
@Suite("Watch fan-out")
struct WatchFanOutTests {
    /// Four watchers with different WATCH requests; four clients storm four polls (and one creates
    /// polls as it goes); every watcher ends on the TALLY of each poll it watches, its seqs only grow
    /// per poll, and it gets far fewer lines than there were votes.
    @Test func watchersConvergeOnEveryPollAfterAStorm() throws {
        try withServer { server in
            let setup = try server.client()
            let polls = ["p0", "p1", "p2", "p3"]
            for (index, poll) in polls.enumerated() { #expect(try setup.request("CREATE \(poll) a,b,c") == "OK \(index + 1)") }
            let specs: [(request: String, polls: Set<String>, every: Bool)] = [
                ("WATCH p0 p1 p2 p3", Set(polls), false),
                ("WATCH *", Set(polls), true),
                ("WATCH p1 p3", ["p1", "p3"], false),
                ("WATCH p2 p0 p2", ["p0", "p2"], false),
            ]
            var watchers: [TestClient] = []
            for spec in specs {
                let watcher = try server.client()
                try watcher.send(spec.request + "\n")
                let lines = try watcher.readLines(1 + spec.polls.count)
                #expect(lines[0] == "OK watching \(spec.polls.count)", "\(spec.request)")
                let initial = Set(lines.dropFirst())
                let wanted = Set(polls.enumerated().filter { spec.polls.contains($0.element) }.map { "UPDATE \($0.element) \($0.offset + 1) open a=0 b=0 c=0 total=0" })
                #expect(initial == wanted, "\(spec.request)")
                watchers.append(watcher)
            }

            let port = server.port
            let clients = 4, votesPerClient = 2000
            // Meanwhile another client creates ten polls and votes in them.
            let creator = Background {
                let client = try TestClient(port: port)
                for i in 0..<10 {
                    guard try okSeq(client.request("CREATE late\(i) x,y")) != nil else { throw TestClientError("CREATE late\(i) failed") }
                    try client.send(lines: (0..<20).map { "VOTE late\(i) v\($0) \($0 % 3 == 0 ? "x" : "y")" })
                    for reply in try client.readLines(20, timeout: 10) where okSeq(reply) == nil {
                        throw TestClientError("VOTE late\(i): \(reply)")
                    }
                }
            }
            try voteStorm(port: port, clients: clients, votes: votesPerClient, polls: polls, options: ["a", "b", "c"], seed: 11)
            try creator.wait()
            #expect(okSeq(try setup.request("CLOSE p0")) != nil)

            let late = (0..<10).map { "late\($0)" }
            var expected: [String: String] = [:]
            for poll in polls + late { expected[poll] = updateLine(forTally: try setup.request("TALLY \(poll)")) }
            #expect(expected["p0"]?.contains(" closed ") == true)

            func wanted(_ index: Int) -> [String: String] {
                let spec = specs[index]
                return expected.filter { spec.polls.contains($0.key) || (spec.every && $0.key.hasPrefix("late")) }
            }
            var logs = Array(repeating: WatcherLog(), count: watchers.count)
            let swarm = LineSwarm(watchers)
            try swarm.pump(for: 5, until: { logs.indices.allSatisfy { logs[$0].latest == wanted($0) } }) { index, line in
                logs[index].take(line)
            }
            let votes = clients * votesPerClient
            for (index, log) in logs.enumerated() {
                let request = specs[index].request
                #expect(log.latest == wanted(index), "\(request): latest \(log.latest.sorted { $0.key < $1.key }.map(\.value))")
                #expect(log.problems.isEmpty, "\(request): \(log.problems.prefix(5))")
                #expect(log.other.isEmpty, "\(request): unexpected lines \(log.other.prefix(5))")
                #expect(log.updates < votes / 5, "\(request): \(log.updates) UPDATE lines for \(votes) votes")
                #expect(log.updates >= wanted(index).count)
            }
            // Quiet polls push nothing more.
            var extra: [String] = []
            try swarm.pump(for: 0.3) { _, line in extra.append(line) }
            #expect(extra.isEmpty, "\(extra.prefix(5))")
        }
    }

    /// 1,000 watchers on one poll while 4 clients vote: every one of them ends on the final TALLY.
    /// (`ulimit -n` here is 20,000: the 2,000 sockets of both ends fit without raising it.)
    @Test func aThousandWatchersConverge() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE big a,b,c,d") == "OK 1")
            let count = 1000
            var watchers: [TestClient] = []
            watchers.reserveCapacity(count)
            for _ in 0..<count {
                let watcher = try server.client()
                try watcher.send("WATCH big\n")
                watchers.append(watcher)
            }
            var logs = Array(repeating: WatcherLog(), count: count)
            let swarm = LineSwarm(watchers)
            try swarm.pump(for: 20, until: { logs.allSatisfy { $0.updates == 1 } }) { index, line in logs[index].take(line) }
            #expect(logs.allSatisfy { $0.other == ["OK watching 1"] && $0.latest["big"] == "UPDATE big 1 open a=0 b=0 c=0 d=0 total=0" })
            #expect(try setup.requestBlock("STATS").contains("STAT watchers \(count)"))

            let port = server.port
            let voters = Background {
                try voteStorm(port: port, clients: 4, votes: 4000, polls: ["big"], options: ["a", "b", "c", "d"], seed: 99)
            }
            // Keep reading while the votes go on, as a live view would.
            try swarm.pump(for: 60, until: { voters.isFinished }) { index, line in logs[index].take(line) }
            try voters.wait()
            let wanted = updateLine(forTally: try setup.request("TALLY big"))
            try swarm.pump(for: 10, until: { logs.allSatisfy { $0.latest["big"] == wanted } }) { index, line in logs[index].take(line) }

            let converged = logs.filter { $0.latest["big"] == wanted }.count
            #expect(converged == count, "\(converged) of \(count) watchers ended on \(wanted)")
            let problems = logs.flatMap(\.problems)
            #expect(problems.isEmpty, "\(problems.prefix(5))")
            #expect(logs.allSatisfy { $0.other == ["OK watching 1"] })
            #expect(!swarm.sawEOF.contains(true))
            let most = logs.map(\.updates).max() ?? 0
            #expect(most < 16_000 / 5, "a watcher got \(most) UPDATE lines for 16,000 votes")
        }
    }
    /// Watchers that WATCH and UNWATCH over and over while votes flow (with a 1 ms interval, so
    /// pushes race the subscriptions): within each WATCH, the seqs only increase, starting from
    /// the one in the reply, and nothing arrives between UNWATCH's `OK` and the next WATCH.
    @Test func rewatchingDuringAStormNeverGoesBackwards() throws {
        try withServer(configure: { $0.watchInterval = .milliseconds(1); $0.fsync = .never }) { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE p a,b,c") == "OK 1")
            let port = server.port
            let stop = Locked(false)
            let voters = Background {
                try runConcurrently(2) { index in
                    let client = try TestClient(port: port)
                    var round = 0
                    while !stop.withLock({ $0 }) {
                        try client.send(lines: (0..<50).map { "VOTE p c\(index)v\((round * 50 + $0) % 5000) \(["a", "b", "c"][(round + $0) % 3])" })
                        _ = try client.readLines(50, timeout: 10)
                        round += 1
                    }
                }
            }
            defer { stop.withLock { $0 = true }; try? voters.wait() }
            let problems = Locked([String]())
            let sessions = Locked(0)
            try runConcurrently(8) { index in
                let client = try TestClient(port: port)
                for cycle in 0..<150 {
                    try client.send("WATCH p\n")
                    guard try client.expectLine() == "OK watching 1" else { throw TestClientError("no OK watching") }
                    var last: UInt64 = 0
                    var seen = 0
                    func take(_ line: String) {
                        guard let tally = ParsedTally(line, prefix: "UPDATE") else {
                            problems.withLock { $0.append("watcher \(index) cycle \(cycle): unexpected \(line)") }
                            return
                        }
                        if tally.seq <= last {
                            problems.withLock { $0.append("watcher \(index) cycle \(cycle): UPDATE seq \(tally.seq) after \(last)\(tally.seq == last ? " (repeated)" : " (older)")") }
                        }
                        last = max(last, tally.seq)
                        seen += 1
                    }
                    take(try client.expectLine())
                    for line in try client.linesArriving(within: Double(cycle % 4) * 0.002) { take(line) }
                    try client.send("UNWATCH p\n")
                    while true {
                        let line = try client.expectLine()
                        if line == "OK" { break }
                        take(line)
                    }
                    sessions.withLock { $0 += 1 }
                }
                // After the last UNWATCH, nothing more.
                for line in try client.linesArriving(within: 0.05) {
                    problems.withLock { $0.append("watcher \(index): \(line) after UNWATCH") }
                }
            }
            let found = problems.withLock { $0 }
            #expect(sessions.withLock { $0 } == 8 * 150)
            let older = found.filter { $0.hasSuffix("(older)") }
            let repeated = found.filter { $0.hasSuffix("(repeated)") }
            let other = found.filter { !$0.hasSuffix("(older)") && !$0.hasSuffix("(repeated)") }
            #expect(older.isEmpty, "\(older.count) UPDATEs older than one already sent, e.g. \(older.prefix(3))")
            #expect(repeated.isEmpty, "\(repeated.count) UPDATEs repeating the tally already sent, e.g. \(repeated.prefix(3))")
            #expect(other.isEmpty, "\(other.prefix(5))")
        }
    }
    /// A watcher that joins between a change and the next tick gets the current tally in its reply;
    /// the tick must not send it the same tally again. (A 500 ms interval makes the window wide.)
    @Test func aNewWatcherIsNotSentTheTallyItAlreadyHas() throws {
        try withServer(configure: { $0.watchInterval = .milliseconds(500) }) { server in
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            let first = try server.client()
            try first.send("WATCH p\n")
            #expect(try first.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            #expect(try first.linesArriving(within: 0.6).isEmpty)
            #expect(try voter.request("VOTE p v a") == "OK 2")
            let second = try server.client()
            try second.send("WATCH p\n")
            #expect(try second.readLines(2) == ["OK watching 1", "UPDATE p 2 open a=1 b=0 total=1"])
            #expect(try first.readLines(1, timeout: 2) == ["UPDATE p 2 open a=1 b=0 total=1"])
            #expect(try second.linesArriving(within: 0.7).isEmpty, "the tick repeated the tally the WATCH reply carried")
        }
    }
}
