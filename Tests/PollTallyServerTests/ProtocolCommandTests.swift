import PollTallyCore
import PollTallyTestSupport
import PollTallyLog
@testable import PollTallyServer
import Testing

/// Every command of the line protocol, and every error code, over a real TCP connection.
@Suite("Protocol commands over TCP")
struct ProtocolCommandTests {
    @Test func pingAnswersPong() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("PING") == "PONG")
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func verbsAreCaseInsensitive() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("ping") == "PONG")
            #expect(try client.request("PiNg") == "PONG")
            #expect(try client.request("create lunch pizza,sushi") == "OK 1")
            #expect(try client.request("Vote lunch alice pizza") == "OK 2")
            #expect(try client.request("vOtE lunch bob sushi") == "OK 3")
            #expect(try client.request("unvote lunch bob") == "OK 4")
            #expect(try client.request("tally lunch") == "TALLY lunch 4 open pizza=1 sushi=0 total=1")
            #expect(try client.requestBlock("results lunch").first == "RESULTS lunch 4 open total=1")
            #expect(try client.requestBlock("polls") == ["POLL lunch open 4 total=1 pizza,sushi", "END"])
            #expect(try client.requestBlock("stats").last == "END")
            #expect(try client.requestBlock("help").last == "END")
            #expect(try client.readLines(0).isEmpty)
            try client.send("watch lunch\n")
            #expect(try client.readLines(2) == ["OK watching 1", "UPDATE lunch 4 open pizza=1 sushi=0 total=1"])
            #expect(try client.request("Unwatch") == "OK")
            #expect(try client.request("close lunch") == "OK 5")
            #expect(try client.request("quit") == "BYE")
            #expect(try client.readLine() == nil)
        }
    }

    @Test func createAnswersSeqAndRejectsDuplicatesAndBadRequests() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch pizza,sushi,tacos Where shall we eat?") == "OK 1")
            #expect(try client.request("CREATE dinner a,b") == "OK 2")
            #expect(try client.request("CREATE lunch x,y") == "ERR poll-exists poll lunch already exists")
            // Seqs have no gaps: rejected commands append nothing.
            #expect(try client.request("CREATE supper a,b") == "OK 3")

            let badRequests = [
                "CREATE",
                "CREATE onlypoll",
                "CREATE p a",
                "CREATE p a,a",
                "CREATE p a,,b",
                "CREATE p a,b,",
                "CREATE bad/poll a,b",
                "CREATE p a,b\u{7F}c",
                "CREATE p a,b " + String(repeating: "q", count: 1025),
                "CREATE p " + (0..<65).map { "o\($0)" }.joined(separator: ","),
            ]
            for line in badRequests {
                let reply = try client.request(line)
                #expect(reply.hasPrefix("ERR bad-request "), "\(line.prefix(60)) → \(reply)")
            }
            // The limits themselves are allowed.
            #expect(try client.request("CREATE big " + (0..<64).map { "o\($0)" }.joined(separator: ",")) == "OK 4")
            #expect(try client.request("CREATE longq a,b " + String(repeating: "q", count: 1024)) == "OK 5")
            #expect(try client.request("CREATE tabbed a,b a\tquestion with a tab") == "OK 6")
            let polls = try client.requestBlock("POLLS")
            #expect(polls.count == 7)
            #expect(polls.contains("POLL lunch open 1 total=0 pizza,sushi,tacos Where shall we eat?"))
            #expect(polls.contains("POLL dinner open 2 total=0 a,b"))
            #expect(polls.contains("POLL tabbed open 6 total=0 a,b a\tquestion with a tab"))
        }
    }

    @Test func voteMovesRepeatsAndErrors() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch pizza,sushi") == "OK 1")
            #expect(try client.request("VOTE lunch alice pizza") == "OK 2")
            // Repeating the same vote appends nothing and answers the seq holding it.
            #expect(try client.request("VOTE lunch alice pizza") == "OK 2")
            #expect(try client.request("VOTE lunch bob pizza") == "OK 3")
            // A move appends.
            #expect(try client.request("VOTE lunch alice sushi") == "OK 4")
            #expect(try client.request("VOTE lunch alice sushi") == "OK 4")
            #expect(try client.request("TALLY lunch") == "TALLY lunch 4 open pizza=1 sushi=1 total=2")
            #expect(try client.request("VOTE nosuch alice pizza") == "ERR no-such-poll no poll named nosuch")
            #expect(try client.request("VOTE lunch alice burgers") == "ERR no-such-option poll lunch has no option burgers")
            #expect(try client.request("VOTE lunch alice").hasPrefix("ERR bad-request usage: VOTE <poll> <voter> <option>"))
            #expect(try client.request("VOTE lunch alice pizza extra").hasPrefix("ERR bad-request "))
            #expect(try client.request("VOTE lunch al!ce pizza").hasPrefix("ERR bad-request bad voter id"))
            #expect(try client.request("VOTE lunch " + String(repeating: "v", count: 65) + " pizza").hasPrefix("ERR bad-request bad voter id"))
            #expect(try client.request("VOTE lunch " + String(repeating: "v", count: 64) + " pizza") == "OK 5")
            #expect(try client.request("CLOSE lunch") == "OK 6")
            #expect(try client.request("VOTE lunch carol pizza") == "ERR poll-closed poll lunch is closed")
            #expect(try client.request("VOTE lunch alice pizza") == "ERR poll-closed poll lunch is closed")
            #expect(try client.request("TALLY lunch") == "TALLY lunch 6 closed pizza=2 sushi=1 total=3")
        }
    }

    @Test func unvoteRetractsAndErrors() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch pizza,sushi") == "OK 1")
            #expect(try client.request("UNVOTE lunch alice") == "ERR no-vote alice has no vote in poll lunch")
            #expect(try client.request("VOTE lunch alice pizza") == "OK 2")
            #expect(try client.request("UNVOTE lunch alice") == "OK 3")
            #expect(try client.request("UNVOTE lunch alice") == "ERR no-vote alice has no vote in poll lunch")
            // Voting again after a retraction is a new event.
            #expect(try client.request("VOTE lunch alice pizza") == "OK 4")
            #expect(try client.request("UNVOTE nosuch alice") == "ERR no-such-poll no poll named nosuch")
            #expect(try client.request("UNVOTE lunch").hasPrefix("ERR bad-request usage: UNVOTE"))
            #expect(try client.request("CLOSE lunch") == "OK 5")
            #expect(try client.request("UNVOTE lunch alice") == "ERR poll-closed poll lunch is closed")
            #expect(try client.request("TALLY lunch") == "TALLY lunch 5 closed pizza=1 sushi=0 total=1")
        }
    }

    @Test func closeAndErrors() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CLOSE lunch") == "ERR no-such-poll no poll named lunch")
            #expect(try client.request("CREATE lunch pizza,sushi") == "OK 1")
            #expect(try client.request("CLOSE lunch") == "OK 2")
            #expect(try client.request("CLOSE lunch") == "ERR poll-closed poll lunch is closed")
            #expect(try client.request("CLOSE").hasPrefix("ERR bad-request usage: CLOSE <poll>"))
            #expect(try client.request("CLOSE lunch extra").hasPrefix("ERR bad-request usage: CLOSE <poll>"))
            #expect(try client.requestBlock("POLLS") == ["POLL lunch closed 2 total=0 pizza,sushi", "END"])
        }
    }

    @Test func tallyAndResultsFormats() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("TALLY lunch") == "ERR no-such-poll no poll named lunch")
            #expect(try client.request("RESULTS lunch") == "ERR no-such-poll no poll named lunch")
            #expect(try client.request("TALLY").hasPrefix("ERR bad-request usage: TALLY <poll>"))
            #expect(try client.request("RESULTS").hasPrefix("ERR bad-request usage: RESULTS <poll>"))
            #expect(try client.request("CREATE lunch pizza,sushi Where shall we eat?") == "OK 1")
            #expect(try client.request("TALLY lunch") == "TALLY lunch 1 open pizza=0 sushi=0 total=0")
            #expect(try client.requestBlock("RESULTS lunch") == [
                "RESULTS lunch 1 open total=0",
                "  Where shall we eat?",
                "  pizza  0    0.0%",
                "  sushi  0    0.0%",
                "END",
            ])
            for (voter, option) in [("a", "pizza"), ("b", "pizza"), ("c", "sushi")] {
                #expect(okSeq(try client.request("VOTE lunch \(voter) \(option)")) != nil)
            }
            #expect(try client.request("TALLY lunch") == "TALLY lunch 4 open pizza=2 sushi=1 total=3")
            let results = try client.requestBlock("RESULTS lunch")
            #expect(results == [
                "RESULTS lunch 4 open total=3",
                "  Where shall we eat?",
                "  pizza  2   66.7%  " + String(repeating: "#", count: 27),
                "  sushi  1   33.3%  " + String(repeating: "#", count: 13),
                "END",
            ])
            // Without a question, RESULTS shows the poll id.
            #expect(try client.request("CREATE plain x,y") == "OK 5")
            #expect(try client.requestBlock("RESULTS plain").dropFirst().first == "  plain")
        }
    }

    @Test func pollsListsEveryPollInIdOrder() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.requestBlock("POLLS") == ["END"])
            #expect(try client.request("CREATE zeta a,b Last one") == "OK 1")
            #expect(try client.request("CREATE alpha a,b") == "OK 2")
            #expect(try client.request("CREATE Mid a,b,c") == "OK 3")
            #expect(try client.request("VOTE alpha v1 b") == "OK 4")
            #expect(try client.request("CLOSE zeta") == "OK 5")
            #expect(try client.requestBlock("POLLS") == [
                "POLL Mid open 3 total=0 a,b,c",
                "POLL alpha open 4 total=1 a,b",
                "POLL zeta closed 5 total=0 a,b Last one",
                "END",
            ])
            #expect(try client.request("POLLS extra").hasPrefix("ERR bad-request usage: POLLS"))
        }
    }

    @Test func statsBlockCountsEvents() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch a,b") == "OK 1")
            #expect(try client.request("VOTE lunch v a") == "OK 2")
            #expect(try client.request("FROB").hasPrefix("ERR unknown-command"))
            let stats = try client.requestBlock("STATS")
            #expect(stats.last == "END")
            var values: [String: String] = [:]
            for line in stats.dropLast() {
                let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
                #expect(fields.count == 3 && fields[0] == "STAT", "\(line)")
                if fields.count == 3 { values[fields[1]] = fields[2] }
            }
            #expect(values["events"] == "2")
            #expect(values["durable_seq"] == "2")
            #expect(values["polls"] == "1")
            #expect(values["connections"] == "1")
            #expect(values["writable"] == "yes")
            #expect(values["fsync"] == "always")
            #expect(Int(values["errors"] ?? "") ?? 0 >= 1)
            #expect(Int(values["requests"] ?? "") ?? 0 >= 3)
            #expect(values["log_zero_writes_failed"] == "0")
            for name in ["uptime_seconds", "connections_total", "watchers", "appended_seq", "fsyncs", "log_batches", "log_bytes_written", "shards", "rss_bytes"] {
                #expect(values[name] != nil, "STATS lacks \(name)")
            }
            #expect(server.server.stats().last == "END")
        }
    }

    @Test func helpListsEveryVerb() throws {
        try withServer { server in
            let client = try server.client()
            let help = try client.requestBlock("HELP")
            #expect(help.first?.hasPrefix("HELP ") == true)
            #expect(help.last == "END")
            let body = help.joined(separator: "\n")
            for verb in ["PING", "CREATE", "VOTE", "UNVOTE", "CLOSE", "TALLY", "RESULTS", "POLLS", "WATCH", "UNWATCH", "STATS", "HELP", "QUIT"] {
                #expect(body.contains("  \(verb)"), "HELP lacks \(verb)")
            }
            // No inner line can be mistaken for the terminator.
            #expect(help.dropLast().allSatisfy { $0 != "END" })
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func unknownCommandKeepsTheConnection() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("FROBNICATE lunch") == "ERR unknown-command unknown command FROBNICATE; try HELP")
            #expect(try client.request("PING now").hasPrefix("ERR bad-request usage: PING"))
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func quitSaysByeThenCloses() throws {
        try withServer { server in
            let client = try server.client()
            // Requests after QUIT in the same write are not answered.
            try client.send("PING\nQUIT\nPING\nCREATE x a,b\n")
            #expect(try client.readUntilEOF() == ["PONG", "BYE"])
            // Nothing after QUIT was executed.
            let other = try server.client()
            #expect(try other.request("TALLY x") == "ERR no-such-poll no poll named x")
        }
    }

    @Test func everyErrorCodeIsReachable() throws {
        var seen = Set<String>()
        try withServer { server in
            let client = try server.client()
            try client.send(bytes: Array(repeating: UInt8(ascii: "x"), count: 5000) + [10])
            let replies = try [
                client.expectLine(),
                client.request("NOPE"),
                client.request("VOTE"),
                client.request("CREATE p a,b"),
                client.request("CREATE p a,b"),
                client.request("VOTE q v a"),
                client.request("VOTE p v c"),
                client.request("UNVOTE p v"),
                client.request("CLOSE p"),
                client.request("VOTE p v a"),
            ]
            for reply in replies where reply.hasPrefix("ERR ") {
                seen.insert(String(reply.split(separator: " ")[1]))
            }
        }
        try withServer(configure: { $0.logIO = FailingLogIO(failWritesAfter: 0) }) { server in
            let client = try server.client()
            let reply = try client.request("CREATE p a,b")
            if reply.hasPrefix("ERR ") { seen.insert(String(reply.split(separator: " ")[1])) }
        }
        try withServer(configure: {
            $0.access = AccessPolicy(fullToken: "full", readToken: "read")
            $0.authFailureDelay = .milliseconds(1)
            $0.maxConnections = 1
        }) { server in
            let client = try server.client()
            for reply in try [client.request("TALLY p"), client.request("AUTH wrong")] where reply.hasPrefix("ERR ") {
                seen.insert(String(reply.split(separator: " ")[1]))
            }
            let refused = try server.client()
            if let reply = try refused.readLine(), reply.hasPrefix("ERR ") { seen.insert(String(reply.split(separator: " ")[1])) }
        }
        // slow-consumer and idle-timeout need a clock: the timeout tests reach them. poll-full needs
        // 4 GiB of voter ids in one poll: ProjectionTests reach it with a small ballot table.
        #expect(seen == Set(ErrorCode.allCases.map(\.rawValue)).subtracting(["slow-consumer", "idle-timeout", "poll-full"]))
    }
}
