@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// Pipelining: many requests in one write get exactly one reply each, in order, and reads see
/// exactly the connection's earlier commands.
@Suite("Pipelining over TCP")
struct PipelineTests {
    enum Kind { case ping, vote(voter: String, option: String), tally }

    @Test func tenThousandPipelinedCommandsInOneWrite() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE big a,b,c") == "OK 1")
            let options = ["a", "b", "c"]
            var rng = SplitMix64(seed: 42)
            var kinds: [Kind] = []
            var lines: [String] = []
            for i in 0..<10_000 {
                switch i % 4 {
                case 0:
                    kinds.append(.ping); lines.append("PING")
                case 1, 2:
                    // Voters come back, so some votes are moves and some are repeats.
                    let voter = "v\(Int.random(in: 0..<1500, using: &rng))"
                    let option = options[Int.random(in: 0..<3, using: &rng)]
                    kinds.append(.vote(voter: voter, option: option)); lines.append("VOTE big \(voter) \(option)")
                default:
                    kinds.append(.tally); lines.append(i % 8 == 3 ? "TALLY big" : "tally big")
                }
            }
            try client.send(lines: lines)
            let replies = try client.readLines(10_000, timeout: 30)
            #expect(replies.count == 10_000)

            // A model of the poll, advanced request by request.
            var ballots: [String: (option: String, seq: UInt64)] = [:]
            var lastSeq: UInt64 = 1
            var mismatches: [String] = []
            for (index, (kind, reply)) in zip(kinds, replies).enumerated() {
                let want: String
                switch kind {
                case .ping:
                    want = "PONG"
                case .vote(let voter, let option):
                    if let ballot = ballots[voter], ballot.option == option {
                        want = "OK \(ballot.seq)"
                    } else {
                        // A new event: the next seq, strictly above every earlier one.
                        lastSeq += 1
                        ballots[voter] = (option, lastSeq)
                        want = "OK \(lastSeq)"
                    }
                case .tally:
                    var counts = ["a": 0, "b": 0, "c": 0]
                    for ballot in ballots.values { counts[ballot.option, default: 0] += 1 }
                    want = "TALLY big \(lastSeq) open a=\(counts["a"]!) b=\(counts["b"]!) c=\(counts["c"]!) total=\(ballots.count)"
                }
                if reply != want { mismatches.append("#\(index) \(lines[index]): got \(reply), want \(want)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
            #expect(try client.linesArriving(within: 0.1).isEmpty)
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func readsSeeExactlyTheConnectionsEarlierCommands() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch pizza,sushi") == "OK 1")
            try client.send("VOTE lunch alice pizza\nTALLY lunch\nCLOSE lunch\nTALLY lunch\n")
            #expect(try client.readLines(4) == [
                "OK 2",
                "TALLY lunch 2 open pizza=1 sushi=0 total=1",
                "OK 3",
                "TALLY lunch 3 closed pizza=1 sushi=0 total=1",
            ])
        }
    }

    @Test func pipelinedCreateVoteCloseInOneWrite() throws {
        try withServer { server in
            let client = try server.client()
            try client.send(lines: [
                "TALLY p",
                "CREATE p a,b",
                "TALLY p",
                "VOTE p x a",
                "RESULTS p",
                "VOTE p y b",
                "UNVOTE p x",
                "TALLY p",
                "CLOSE p",
                "VOTE p z a",
                "TALLY p",
            ])
            let replies = try client.readLines(15)
            #expect(replies == [
                "ERR no-such-poll no poll named p",
                "OK 1",
                "TALLY p 1 open a=0 b=0 total=0",
                "OK 2",
                "RESULTS p 2 open total=1", "  p", "  a  1  100.0%  " + String(repeating: "#", count: 40), "  b  0    0.0%", "END",
                "OK 3",
                "OK 4",
                "TALLY p 4 open a=0 b=1 total=1",
                "OK 5",
                "ERR poll-closed poll p is closed",
                "TALLY p 5 closed a=0 b=1 total=1",
            ])
        }
    }

    /// Polls live on different projection actors; one connection's pipeline across many polls
    /// still gets its replies in request order, each read seeing exactly the earlier commands on
    /// its poll. Seqs are global but handed out by whichever actor appends first, so they rise
    /// per poll, not across polls.
    @Test func pipelineAcrossManyPollsAndShardsKeepsOrder() throws {
        try withServer(configure: { $0.shards = 4 }) { server in
            let client = try server.client()
            let polls = (0..<12).map { "poll\($0)" }
            enum Kind { case create(String), vote(String, String), tally(String), ping }
            var kinds: [Kind] = polls.map { .create($0) }
            for round in 0..<40 {
                for (i, poll) in polls.enumerated() {
                    kinds.append(.vote(poll, (round + i) % 3 == 0 ? "no" : "yes"))
                    if (round + i) % 5 == 0 { kinds.append(.tally(poll)) }
                    if round % 7 == 0 { kinds.append(.ping) }
                }
            }
            var lines: [String] = []
            var round = Dictionary(uniqueKeysWithValues: polls.map { ($0, 0) })
            for kind in kinds {
                switch kind {
                case .create(let poll): lines.append("CREATE \(poll) yes,no")
                case .vote(let poll, let option): lines.append("VOTE \(poll) r\(round[poll]!) \(option)"); round[poll]! += 1
                case .tally(let poll): lines.append("TALLY \(poll)")
                case .ping: lines.append("PING")
                }
            }
            try client.send(lines: lines)
            let replies = try client.readLines(lines.count, timeout: 20)

            var state = Dictionary(uniqueKeysWithValues: polls.map { ($0, (yes: 0, no: 0, seq: UInt64(0))) })
            var allSeqs: [UInt64] = []
            var problems: [String] = []
            for (index, (kind, reply)) in zip(kinds, replies).enumerated() {
                switch kind {
                case .create(let poll), .vote(let poll, _):
                    guard let seq = okSeq(reply), seq > state[poll]!.seq else {
                        problems.append("#\(index) \(lines[index]) → \(reply) after seq \(state[poll]!.seq)"); continue
                    }
                    allSeqs.append(seq)
                    state[poll]!.seq = seq
                    if case .vote(_, let option) = kind {
                        if option == "yes" { state[poll]!.yes += 1 } else { state[poll]!.no += 1 }
                    }
                case .tally(let poll):
                    let c = state[poll]!
                    let want = "TALLY \(poll) \(c.seq) open yes=\(c.yes) no=\(c.no) total=\(c.yes + c.no)"
                    if reply != want { problems.append("#\(index) \(lines[index]) → \(reply), want \(want)") }
                case .ping:
                    if reply != "PONG" { problems.append("#\(index) PING → \(reply)") }
                }
            }
            #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(3))")
            // Every event got its own seq, without gaps.
            #expect(allSeqs.sorted() == Array(1...UInt64(12 + 12 * 40)))
            #expect(try replayTallyLines(server.logPath) == polls.sorted().map { try! client.request("TALLY \($0)") })
        }
    }

    /// Requests the connection answers itself (POLLS, STATS, HELP, WATCH) wait their turn behind
    /// the commands before them.
    @Test func connectionAnsweredRequestsSeeEarlierCommands() throws {
        try withServer { server in
            let client = try server.client()
            try client.send("CREATE p a,b\nVOTE p v a\nPOLLS\nHELP\nVOTE p w b\nSTATS\nPING\n")
            #expect(try client.readLines(2) == ["OK 1", "OK 2"])
            // POLLS reads the durable board when it reaches the head: it shows at least the
            // earlier vote (a later command of the same read may already be in, too).
            let polls = try client.readBlock()
            #expect(polls.count == 2)
            #expect(polls.first == "POLL p open 2 total=1 a,b" || polls.first == "POLL p open 3 total=2 a,b", "\(polls)")
            #expect(try client.readBlock().first?.hasPrefix("HELP") == true)
            #expect(try client.expectLine() == "OK 3")
            let stats = try client.readBlock()
            #expect(stats.contains("STAT events 3"))
            #expect(try client.expectLine() == "PONG")
        }
    }
}
