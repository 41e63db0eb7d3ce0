import PollTallyTestSupport
import PollTallyCore
@testable import PollTallyServer
import Testing

/// Tokens over TCP: with none configured everyone may do everything; with tokens, only PING, HELP,
/// QUIT and AUTH work before `AUTH`, a wrong token is refused after a delay, the full token allows
/// everything and the read token only reading.
@Suite("Access control over TCP")
struct AccessControlTests {
    static let fullToken = "full-Secret_7f3a"
    static let readToken = "read-Secret_9c21"

    static func withTokens(delay: Duration = .milliseconds(200), _ body: (TestServer) throws -> Void) throws {
        try withServer(configure: {
            $0.access = AccessPolicy(fullToken: fullToken, readToken: readToken)
            $0.authFailureDelay = delay
        }, body)
    }

    /// Reads that the read token allows, each with the first line of its reply.
    static let reads: [(request: String, replyPrefix: String)] = [
        ("TALLY p", "TALLY p "),
        ("RESULTS p", "RESULTS p "),
        ("POLLS", "POLL p "),
        ("STATS", "STAT "),
        ("WATCH p", "OK watching 1"),
        ("UNWATCH p", "OK"),
        ("WATCH *", "OK watching 1"),
        ("UNWATCH", "OK"),
    ]

    /// Every request that needs a token.
    static let gated = ["CREATE p a,b", "VOTE p v a", "UNVOTE p v", "CLOSE p", "TALLY p", "RESULTS p", "POLLS",
                        "WATCH p", "WATCH *", "UNWATCH", "UNWATCH p", "TAIL", "TAIL FROM 1", "STATS"]

    @Test func withoutATokenEveryoneMayDoEverything() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("VOTE p v a") == "OK 2")
            #expect(try client.request("TALLY p") == "TALLY p 2 open a=1 b=0 total=1")
            #expect(try client.request("UNVOTE p v") == "OK 3")
            #expect(try client.request("CLOSE p") == "OK 4")
            #expect(try client.request("AUTH anything") == "OK no token is required")
            #expect(try client.requestBlock("STATS").contains("STAT auth_failures 0"))
        }
    }

    @Test func beforeAuthOnlyPingHelpAndQuitWork() throws {
        try Self.withTokens { server in
            let client = try server.client()
            #expect(try client.request("PING") == "PONG")
            let help = try client.requestBlock("HELP")
            #expect(help.first?.hasPrefix("HELP ") == true)
            for request in Self.gated {
                #expect(try client.request(request) == "ERR auth-required send AUTH <token> first", "\(request)")
            }
            #expect(try client.request("ping") == "PONG")
            // Nothing was created: the full token sees no poll.
            let admin = try server.client()
            #expect(try admin.request("AUTH \(Self.fullToken)") == "OK")
            #expect(try admin.requestBlock("POLLS") == ["END"])
            #expect(try client.request("QUIT") == "BYE")
            #expect(try client.readUntilEOF().isEmpty)
        }
    }

    @Test func wrongTokenIsRefusedAfterTheDelayAndOthersAreNotHeldUp() throws {
        try Self.withTokens { server in
            let client = try server.client()
            let other = try server.client()
            let wrongs = ["wrong", "full-Secret_7f3", "full-Secret_7f3a-", "FULL-SECRET_7F3A", "read-Secret_9c2"]
            for wrong in wrongs {
                let started = TestClient.now()
                try client.send("AUTH \(wrong)\n")
                // Meanwhile another connection is answered at once.
                #expect(try other.request("PING") == "PONG")
                let reply = try client.expectLine()
                let elapsed = TestClient.now() - started
                #expect(reply == "ERR auth-failed wrong token", "\(wrong)")
                #expect(elapsed >= 0.150, "a wrong token was refused after \(elapsed) s")
                // Still unauthenticated, still usable.
                #expect(try client.request("TALLY p") == "ERR auth-required send AUTH <token> first")
                #expect(try client.request("PING") == "PONG")
            }
            // Replies stay in order behind the delayed one.
            try client.send("AUTH nope\nPING\n")
            #expect(try client.readLines(2) == ["ERR auth-failed wrong token", "PONG"])
            #expect(try client.request("AUTH \(Self.fullToken)") == "OK")
            let failures = try client.requestBlock("STATS").first { $0.hasPrefix("STAT auth_failures ") }
            #expect(failures == "STAT auth_failures \(wrongs.count + 1)")
        }
    }

    /// A token padded with NUL bytes is a different token and must be refused. (The padding length
    /// matters: 256 NULs make the length difference vanish in a byte-wide XOR.)
    @Test(arguments: [1, 255, 256, 512])
    func tokenPaddedWithNulBytesIsRefused(_ padding: Int) throws {
        try Self.withTokens(delay: .milliseconds(1)) { server in
            let client = try server.client()
            try client.send(bytes: Array("AUTH \(Self.fullToken)".utf8) + [UInt8](repeating: 0, count: padding) + [10])
            #expect(try client.expectLine() == "ERR auth-failed wrong token", "token + \(padding) NUL bytes")
            #expect(try client.request("CREATE p a,b") == "ERR auth-required send AUTH <token> first")
        }
    }

    /// The delay exists to slow guessing (ServerConfig.authFailureDelay), so pipelining guesses
    /// must not get around it: one connection's wrong guesses are answered no faster than one per
    /// delay. (Guessing over many connections at once is bounded by `maxConnections` only.)
    @Test func pipelinedGuessesAreNotAnsweredFasterThanOnePerDelay() throws {
        try Self.withTokens(delay: .milliseconds(100)) { server in
            let client = try server.client()
            let guesses = 6
            let started = TestClient.now()
            try client.send((0..<guesses).map { "AUTH guess-\($0)\n" }.joined())
            let replies = try client.readLines(guesses)
            let elapsed = TestClient.now() - started
            #expect(replies == Array(repeating: "ERR auth-failed wrong token", count: guesses))
            #expect(elapsed >= 0.075 * Double(guesses), "\(guesses) pipelined wrong guesses answered in \(elapsed) s")
        }
    }

    /// Slowing the answers is not enough: a client need not wait for answers, so a command
    /// pipelined behind wrong guesses and a right one must not take effect before those guesses'
    /// delays have passed (otherwise guesses are still checked at full speed).
    @Test func guessesPipelinedBeforeTheRightTokenAreNotCheckedFasterThanOnePerDelay() throws {
        try Self.withTokens(delay: .milliseconds(200)) { server in
            let admin = try server.client()
            #expect(try admin.request("AUTH \(Self.fullToken)") == "OK")
            let guesser = try server.client()
            let wrong = 4
            let started = TestClient.now()
            try guesser.send((0..<wrong).map { "AUTH guess-\($0)\n" }.joined() + "AUTH \(Self.fullToken)\nCREATE p a,b\n")
            var createdAfter: Double?
            _ = try waitUntil(timeout: 5) {
                guard try admin.request("TALLY p").hasPrefix("TALLY p ") else { return false }
                createdAfter = TestClient.now() - started
                return true
            }
            #expect(try guesser.readLines(wrong + 2) == Array(repeating: "ERR auth-failed wrong token", count: wrong) + ["OK", "OK 1"])
            #expect(createdAfter != nil)
            #expect((createdAfter ?? 0) >= 0.15 * Double(wrong),
                    "a CREATE behind \(wrong) wrong guesses took effect after \(createdAfter ?? 0) s")
        }
    }

    @Test func fullTokenAllowsEverything() throws {
        try Self.withTokens { server in
            let client = try server.client()
            #expect(try client.request("AUTH \(Self.fullToken)") == "OK")
            #expect(try client.request("CREATE p a,b What?") == "OK 1")
            #expect(try client.request("VOTE p v a") == "OK 2")
            #expect(try client.request("VOTE p w b") == "OK 3")
            #expect(try client.request("UNVOTE p w") == "OK 4")
            #expect(try client.request("TALLY p") == "TALLY p 4 open a=1 b=0 total=1")
            for (request, prefix) in Self.reads {
                try client.send(request + "\n")
                let first = try client.expectLine()
                #expect(first.hasPrefix(prefix), "\(request) → \(first)")
                _ = try client.linesArriving(within: 0.05)
            }
            #expect(try client.request("CLOSE p") == "OK 5")
            try client.send("TAIL FROM 1\n")
            let tailed = try client.readLines(7)
            #expect(tailed.first == "OK tailing from 1")
            let kinds = tailed.dropFirst().prefix(5).map { $0.split(separator: " ", maxSplits: 3).last.map(String.init) ?? "" }
            #expect(kinds == ["CREATE p a,b What?", "VOTE p v a", "VOTE p w b", "UNVOTE p w", "CLOSE p"], "\(tailed)")
            #expect(tailed.last == "LIVE 5")
        }
    }

    @Test func readTokenAllowsReadingButNoWrites() throws {
        try Self.withTokens { server in
            let admin = try server.client()
            #expect(try admin.request("AUTH \(Self.fullToken)") == "OK")
            #expect(try admin.request("CREATE p a,b") == "OK 1")
            #expect(try admin.request("VOTE p v a") == "OK 2")

            let reader = try server.client()
            #expect(try reader.request("AUTH \(Self.readToken)") == "OK read-only")
            for write in ["VOTE p w b", "CREATE q a,b", "CLOSE p", "UNVOTE p v", "VOTE p v b"] {
                #expect(try reader.request(write) == "ERR auth-required this token is read-only", "\(write)")
            }
            #expect(try reader.request("TALLY p") == "TALLY p 2 open a=1 b=0 total=1")
            let results = try reader.requestBlock("RESULTS p")
            #expect(results.first == "RESULTS p 2 open total=1")
            #expect(try reader.requestBlock("POLLS") == ["POLL p open 2 total=1 a,b", "END"])
            let stats = try reader.requestBlock("STATS")
            #expect(stats.contains("STAT polls 1"))
            try reader.send("WATCH p\n")
            #expect(try reader.readLines(2) == ["OK watching 1", "UPDATE p 2 open a=1 b=0 total=1"])
            #expect(try admin.request("VOTE p w b") == "OK 3")
            #expect(try reader.expectLine() == "UPDATE p 3 open a=1 b=1 total=2")
            #expect(try reader.request("UNWATCH") == "OK")

            let tailer = try server.client()
            #expect(try tailer.request("AUTH \(Self.readToken)") == "OK read-only")
            try tailer.send("TAIL FROM 1\n")
            let tailed = try tailer.readLines(4)
            #expect(tailed[0] == "OK tailing from 1")
            #expect(tailed[1].hasPrefix("EVENT 1 ") && tailed[1].hasSuffix(" CREATE p a,b"), "\(tailed[1])")
            #expect(tailed[2].hasPrefix("EVENT 2 ") && tailed[2].hasSuffix(" VOTE p v a"), "\(tailed[2])")
            #expect(tailed[3].hasPrefix("EVENT 3 ") && tailed[3].hasSuffix(" VOTE p w b"), "\(tailed[3])")

            // None of the refused writes reached the log.
            #expect(try admin.request("TALLY p") == "TALLY p 3 open a=1 b=1 total=2")
            #expect(try scanEvents(server.logPath).count == 3)
        }
    }

    @Test func pipelinedAuthThenCommandsInOneWrite() throws {
        try Self.withTokens { server in
            let client = try server.client()
            try client.send("AUTH \(Self.fullToken)\nCREATE p a,b\nVOTE p v a\nTALLY p\n")
            #expect(try client.readLines(4) == ["OK", "OK 1", "OK 2", "TALLY p 2 open a=1 b=0 total=1"])

            let reader = try server.client()
            try reader.send("AUTH \(Self.readToken)\nVOTE p w b\nTALLY p\n")
            #expect(try reader.readLines(3) == ["OK read-only", "ERR auth-required this token is read-only",
                                                "TALLY p 2 open a=1 b=0 total=1"])

            let guesser = try server.client()
            try guesser.send("AUTH \(Self.fullToken)x\nVOTE p x a\nPING\n")
            #expect(try guesser.readLines(3) == ["ERR auth-failed wrong token", "ERR auth-required send AUTH <token> first", "PONG"])
            #expect(try client.request("TALLY p") == "TALLY p 2 open a=1 b=0 total=1")
        }
    }

    @Test func tokensNeverAppearInReplies() throws {
        try Self.withTokens(delay: .milliseconds(1)) { server in
            let client = try server.client()
            var seen: [String] = []
            seen += try client.requestBlock("HELP")
            seen.append(try client.request("AUTH \(Self.fullToken)-wrong"))
            seen.append(try client.request("AUTH \(Self.readToken)"))
            seen += try client.requestBlock("STATS")
            seen.append(try client.request("AUTH \(Self.fullToken)"))
            seen += try client.requestBlock("STATS")
            seen += server.server.stats()
            for line in seen {
                #expect(!line.contains("Secret"), "\(line)")
            }
        }
    }

    // MARK: - AccessPolicy

    @Test func constantTimeEqualsCases() {
        func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool { AccessPolicy.constantTimeEquals(a, b) }
        let secret = Array("secret".utf8)
        // Equal.
        #expect(equal(secret, secret))
        #expect(equal([], []))
        #expect(equal([0], [0]))
        // Same length, different content: first, middle, last byte.
        #expect(!equal(secret, Array("Secret".utf8)))
        #expect(!equal(secret, Array("secXet".utf8)))
        #expect(!equal(secret, Array("secreT".utf8)))
        // Different lengths.
        #expect(!equal(secret, Array("secrets".utf8)))
        #expect(!equal([], secret))
        #expect(!equal(secret, []))
        #expect(!equal([], [0]))
        #expect(!equal([1], [1, 0]))
        // A prefix either way.
        #expect(!equal(secret, Array("secre".utf8)))
        #expect(!equal(Array("secre".utf8), secret))
        #expect(!equal(secret, Array("secret-and-more".utf8)))
        // Length differences that are multiples of 256, padded with zero bytes.
        #expect(!equal(secret, secret + [UInt8](repeating: 0, count: 256)), "secret vs secret + 256 NULs")
        #expect(!equal(secret + [UInt8](repeating: 0, count: 512), secret), "secret + 512 NULs vs secret")
        #expect(!equal([], [UInt8](repeating: 0, count: 256)), "empty vs 256 NULs")
    }

    @Test func accessForTokens() {
        let both = AccessPolicy(fullToken: "full", readToken: "read")
        #expect(both.requiresAuth)
        #expect(both.initialAccess == .none)
        #expect(both.access(for: Array("full".utf8)) == .full)
        #expect(both.access(for: Array("read".utf8)) == .readOnly)
        #expect(both.access(for: Array("ful".utf8)) == nil)
        #expect(both.access(for: Array("fulll".utf8)) == nil)
        #expect(both.access(for: []) == nil)
        let fullOnly = AccessPolicy(fullToken: "full")
        #expect(fullOnly.access(for: Array("read".utf8)) == nil)
        #expect(fullOnly.access(for: Array("full".utf8)) == .full)
        let none = AccessPolicy()
        #expect(!none.requiresAuth)
        #expect(none.initialAccess == .full)
    }

    @Test func whatEachAccessAllows() {
        let reads: [Request] = [.tally(poll: "p"), .results(poll: "p"), .polls, .watch(polls: ["p"]), .watchAll,
                                .unwatch(polls: []), .tail(from: nil, poll: nil), .stats]
        let writes: [Request] = [.command(.pollCreated(poll: "p", options: ["a", "b"], question: "")),
                                 .command(.voteCast(poll: "p", voter: "v", option: "a")),
                                 .command(.voteRetracted(poll: "p", voter: "v")), .command(.pollClosed(poll: "p"))]
        let open: [Request] = [.ping, .help, .quit, .auth(token: Array("x".utf8))]
        for request in open {
            #expect(AccessPolicy.allows(.none, request) && AccessPolicy.allows(.readOnly, request) && AccessPolicy.allows(.full, request), "\(request)")
        }
        for request in reads {
            #expect(!AccessPolicy.allows(.none, request) && AccessPolicy.allows(.readOnly, request) && AccessPolicy.allows(.full, request), "\(request)")
        }
        for request in writes {
            #expect(!AccessPolicy.allows(.none, request) && !AccessPolicy.allows(.readOnly, request) && AccessPolicy.allows(.full, request), "\(request)")
        }
    }
}
