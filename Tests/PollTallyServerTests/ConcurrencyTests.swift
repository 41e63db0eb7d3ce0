import PollTallyTestSupport
import PollTallyCore
@testable import PollTallyServer
import Testing

/// Several clients racing on the same polls.
@Suite("Concurrent clients over TCP")
struct ConcurrencyTests {
    static let options = ["red", "green", "blue", "grey"]

    /// 8 clients × 500 commands on one poll, each client owning its voters: every reply is the one
    /// the client's own model predicts, and the final tally is the sum of the models.
    @Test func disjointVotersGiveADeterministicTally() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE race " + Self.options.joined(separator: ",")) == "OK 1")
            let port = server.port
            let finals = Locked([String: String]())
            let problems = Locked([String]())
            try runConcurrently(8) { index in
                let client = try TestClient(port: port)
                var rng = SplitMix64(seed: 1000 + UInt64(index))
                var ballots: [String: (option: String, seq: UInt64)] = [:]
                var lastSeq: UInt64 = 0
                for _ in 0..<10 {
                    var lines: [String] = []
                    var voters: [(voter: String, option: String?)] = []
                    for _ in 0..<50 {
                        let voter = "t\(index)-v\(Int.random(in: 0..<40, using: &rng))"
                        if Int.random(in: 0..<8, using: &rng) == 0 {
                            lines.append("UNVOTE race \(voter)"); voters.append((voter, nil))
                        } else {
                            let option = Self.options[Int.random(in: 0..<4, using: &rng)]
                            lines.append("VOTE race \(voter) \(option)"); voters.append((voter, option))
                        }
                    }
                    try client.send(lines: lines)
                    let replies = try client.readLines(50, timeout: 10)
                    for ((voter, option), reply) in zip(voters, replies) {
                        let problem: String?
                        switch (option, ballots[voter]) {
                        case (nil, nil):
                            problem = reply == "ERR no-vote \(voter) has no vote in poll race" ? nil : "UNVOTE \(voter) → \(reply)"
                        case (nil, .some):
                            if let seq = okSeq(reply), seq > lastSeq { lastSeq = seq; ballots[voter] = nil; problem = nil } else { problem = "UNVOTE \(voter) → \(reply)" }
                        case (let option?, let ballot?) where ballot.option == option:
                            problem = reply == "OK \(ballot.seq)" ? nil : "repeat VOTE \(voter) → \(reply), holds \(ballot.seq)"
                        case (let option?, _):
                            if let seq = okSeq(reply), seq > lastSeq { lastSeq = seq; ballots[voter] = (option, seq); problem = nil } else { problem = "VOTE \(voter) \(option) → \(reply) after \(lastSeq)" }
                        }
                        if let problem { problems.withLock { $0.append(problem) } }
                    }
                }
                finals.withLock { for (voter, ballot) in ballots { $0[voter] = ballot.option } }
            }
            #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
            let votes = finals.withLock { $0 }
            let counts = Self.options.map { option in votes.values.filter { $0 == option }.count }
            let tally = try #require(ParsedTally(try setup.request("TALLY race")))
            #expect(tally.order == Self.options)
            #expect(Self.options.map { tally.counts[$0] ?? -1 } == counts)
            #expect(tally.total == votes.count)
            #expect(tally.isOpen)
            #expect(try replayTallyLines(server.logPath) == [try setup.request("TALLY race")])
        }
    }

    /// 8 clients × 500 votes over one shared pool of voters: the total is the number of distinct
    /// voters, every acknowledged seq holds exactly the acknowledged vote, and replay equals TALLY.
    @Test func sharedVotersAgreeWithReplay() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE shared " + Self.options.joined(separator: ",")) == "OK 1")
            let port = server.port
            let acks = Locked([(voter: String, option: String, seq: UInt64)]())
            let problems = Locked([String]())
            try runConcurrently(8) { index in
                let client = try TestClient(port: port)
                var rng = SplitMix64(seed: 77 + UInt64(index))
                for _ in 0..<10 {
                    let votes = (0..<50).map { _ in
                        ("s\(Int.random(in: 0..<60, using: &rng))", Self.options[Int.random(in: 0..<4, using: &rng)])
                    }
                    try client.send(lines: votes.map { "VOTE shared \($0.0) \($0.1)" })
                    let replies = try client.readLines(50, timeout: 10)
                    for ((voter, option), reply) in zip(votes, replies) {
                        if let seq = okSeq(reply) {
                            acks.withLock { $0.append((voter, option, seq)) }
                        } else {
                            problems.withLock { $0.append("VOTE \(voter) \(option) → \(reply)") }
                        }
                    }
                }
            }
            #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
            let acknowledged = acks.withLock { $0 }
            #expect(acknowledged.count == 4000)
            let tallyLine = try setup.request("TALLY shared")
            let tally = try #require(ParsedTally(tallyLine))
            #expect(tally.total == Set(acknowledged.map(\.voter)).count)
            #expect(try replayTallyLines(server.logPath) == [tallyLine])

            let events = Dictionary(uniqueKeysWithValues: try scanEvents(server.logPath).map { ($0.seq, $0.body) })
            let wrong = acknowledged.filter { events[$0.seq] != .voteCast(poll: "shared", voter: $0.voter, option: $0.option) }
            #expect(wrong.isEmpty, "acks not matching the log: \(wrong.prefix(5))")
            #expect(events.count == Int(tally.seq))
        }
    }

    @Test func racingCreatesOfOnePollHaveOneWinner() throws {
        try withServer { server in
            let port = server.port
            let replies = Locked([String]())
            try runConcurrently(8) { index in
                let client = try TestClient(port: port)
                let reply = try client.request("CREATE contested a,b Created by \(index)")
                replies.withLock { $0.append(reply) }
            }
            let all = replies.withLock { $0 }
            #expect(all.filter { $0 == "OK 1" }.count == 1, "\(all)")
            #expect(all.filter { $0 == "ERR poll-exists poll contested already exists" }.count == 7, "\(all)")
        }
    }

    /// A CLOSE racing with votes: every vote acknowledged OK sits before the CLOSE in the log,
    /// every later one is refused, and the tally counts exactly the acknowledged votes.
    @Test func closeRacingWithVotesIsACleanCut() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE cut a,b") == "OK 1")
            let port = server.port
            let okVotes = Locked([UInt64]())
            let refused = Locked(0)
            let closeSeq = Locked<UInt64?>(nil)
            let problems = Locked([String]())
            try runConcurrently(5) { index in
                let client = try TestClient(port: port)
                if index == 4 {
                    // Let some votes in first.
                    _ = waitUntil(timeout: 5) { okVotes.withLock { $0.count } >= 200 }
                    let reply = try client.request("CLOSE cut")
                    closeSeq.withLock { $0 = okSeq(reply) }
                    return
                }
                for chunk in 0..<40 {
                    let lines = (0..<25).map { "VOTE cut c\(index)-\(chunk)-\($0) \($0 % 2 == 0 ? "a" : "b")" }
                    try client.send(lines: lines)
                    for reply in try client.readLines(25, timeout: 10) {
                        if let seq = okSeq(reply) {
                            okVotes.withLock { $0.append(seq) }
                        } else if reply == "ERR poll-closed poll cut is closed" {
                            refused.withLock { $0 += 1 }
                        } else {
                            problems.withLock { $0.append(reply) }
                        }
                    }
                }
            }
            #expect(problems.withLock { $0 }.isEmpty)
            let close = try #require(closeSeq.withLock { $0 })
            let oks = okVotes.withLock { $0 }
            #expect(oks.allSatisfy { $0 < close })
            #expect(oks.count + refused.withLock { $0 } == 4 * 40 * 25)
            let tally = try #require(ParsedTally(try setup.request("TALLY cut")))
            #expect(!tally.isOpen)
            #expect(tally.seq == close)
            #expect(tally.total == oks.count)
        }
    }

    /// Clients on different polls (spread over the shards) do not disturb each other.
    @Test func independentPollsInParallel() throws {
        try withServer(configure: { $0.shards = 3 }) { server in
            let port = server.port
            let problems = Locked([String]())
            try runConcurrently(6) { index in
                let client = try TestClient(port: port)
                let poll = "own\(index)"
                guard okSeq(try client.request("CREATE \(poll) x,y")) != nil else { throw TestClientError("CREATE failed") }
                for chunk in 0..<10 {
                    var lines = (0..<40).map { "VOTE \(poll) v\(chunk * 40 + $0) \($0 % 4 == 0 ? "y" : "x")" }
                    lines.append("TALLY \(poll)")
                    try client.send(lines: lines)
                    let replies = try client.readLines(41, timeout: 10)
                    let tally = ParsedTally(replies[40])
                    let lastOK = okSeq(replies[39])
                    if tally?.total != (chunk + 1) * 40 || tally?.counts["y"] != (chunk + 1) * 10 || tally?.seq != lastOK {
                        problems.withLock { $0.append("\(poll) chunk \(chunk): \(replies[40]) after \(replies[39])") }
                    }
                }
            }
            #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
            let probe = try server.client()
            let polls = try probe.requestBlock("POLLS")
            #expect(polls.count == 7)
            #expect(polls.dropLast().allSatisfy { $0.contains(" total=400 x,y") })
        }
    }
}
