import PollTallyTestSupport
import PollTallyCore
@testable import PollTallyServer
import Testing

/// Framing and connection life cycle: over-long lines, junk bytes, blank lines, CRLF, QUIT, half-close.
@Suite("Connection over TCP")
struct ConnectionTests {
    @Test func tenKilobyteLineIsRejectedAndTheConnectionStaysUsable() throws {
        try withServer { server in
            let client = try server.client()
            // One write: the long line, then PING.
            let long = "VOTE p v " + String(repeating: "a", count: 10 * 1024)
            try client.send(long + "\nPING\n")
            let tooLong = try client.expectLine()
            #expect(tooLong.hasPrefix("ERR line-too-long "), "\(tooLong)")
            #expect(try client.expectLine() == "PONG")
            // Separate writes: the long line split across several sends, then PING.
            let bytes = Array((String(repeating: "b", count: 10 * 1024) + "\n").utf8)
            for chunk in stride(from: 0, to: bytes.count, by: 1500) {
                try client.send(bytes: Array(bytes[chunk..<min(chunk + 1500, bytes.count)]))
            }
            try client.send("PING\n")
            #expect(try client.expectLine().hasPrefix("ERR line-too-long "))
            #expect(try client.expectLine() == "PONG")
            // Exactly one error per long line, even a megabyte one.
            try client.send(String(repeating: "c", count: 1 << 20) + "\nPING\n")
            #expect(try client.expectLine().hasPrefix("ERR line-too-long "))
            #expect(try client.expectLine() == "PONG")
            #expect(try client.linesArriving(within: 0.1).isEmpty)
        }
    }

    @Test func lineLengthLimitIsExactly4096Bytes() throws {
        try withServer { server in
            let client = try server.client()
            let atLimit = "PING" + String(repeating: " ", count: 4092)
            #expect(atLimit.utf8.count == 4096)
            #expect(try client.request(atLimit) == "PONG")
            #expect(try client.request(atLimit + "\r") == "PONG")
            #expect(try client.request(atLimit + " ").hasPrefix("ERR line-too-long "))
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func junkBytesInAQuestionAreRejectedAndTheConnectionStaysUsable() throws {
        try withServer { server in
            let client = try server.client()
            let prefix = Array("CREATE p a,b ".utf8)
            let junk: [[UInt8]] = [
                prefix + [0x00] + Array("nul".utf8),                 // NUL
                prefix + Array("caf".utf8) + [0xC3],                  // truncated UTF-8
                prefix + [0xFF, 0xFE, 0x80, 0x81],                    // invalid UTF-8
                prefix + [0xED, 0xA0, 0x80],                          // a UTF-16 surrogate in UTF-8
                prefix + Array("bell".utf8) + [0x07],                 // control character
                prefix + Array("esc".utf8) + [0x1B] + Array("[2J".utf8),
            ]
            for line in junk {
                try client.send(bytes: line + [10])
                let reply = try client.expectLine()
                #expect(reply.hasPrefix("ERR bad-request "), "\(line) → \(reply)")
                #expect(try client.request("PING") == "PONG")
            }
            // Junk as a verb, and inside ids.
            try client.send(bytes: [0x00, 0x01, 0xFF, 0x20, 0x41, 10])
            #expect(try client.expectLine().hasPrefix("ERR unknown-command "))
            try client.send(bytes: Array("VOTE p v".utf8) + [0x00] + Array(" a\n".utf8))
            #expect(try client.expectLine().hasPrefix("ERR bad-request "))
            try client.send(bytes: Array("CREATE p".utf8) + [0xC3, 0xA9] + Array(" a,b\n".utf8))
            #expect(try client.expectLine().hasPrefix("ERR bad-request "))
            #expect(try client.request("PING") == "PONG")
            // None of it created anything; valid UTF-8 in a question is fine.
            #expect(try client.requestBlock("POLLS") == ["END"])
            #expect(try client.request("CREATE p a,b Où déjeune-t-on ? 🍕") == "OK 1")
            #expect(try client.requestBlock("POLLS") == ["POLL p open 1 total=0 a,b Où déjeune-t-on ? 🍕", "END"])
        }
    }

    @Test func blankLinesGetNoReply() throws {
        try withServer { server in
            let client = try server.client()
            try client.send("\n\r\n   \n\t \t\n\nPING\n\n")
            #expect(try client.expectLine() == "PONG")
            #expect(try client.linesArriving(within: 0.2).isEmpty)
            #expect(try client.request("PING") == "PONG")
        }
    }

    @Test func crlfLineEndingsAndExtraSpacesAreAccepted() throws {
        try withServer { server in
            let client = try server.client()
            try client.send("CREATE\tp   a,b  Question here  \r\nVOTE  p\tv1   a\r\nTALLY p\r\n")
            #expect(try client.readLines(3) == ["OK 1", "OK 2", "TALLY p 2 open a=1 b=0 total=1"])
            #expect(try client.requestBlock("POLLS") == ["POLL p open 2 total=1 a,b Question here", "END"])
        }
    }

    @Test func quitSaysByeThenEndOfFile() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            // QUIT after pipelined commands: their replies come first, then BYE, then end of file.
            try client.send("VOTE p v1 a\nVOTE p v2 b\nQUIT\n")
            #expect(try client.readUntilEOF() == ["OK 2", "OK 3", "BYE"])
            #expect(client.sawEOF)
        }
    }

    @Test func halfCloseAnswersEverythingThenEndOfFile() throws {
        try withServer { server in
            let client = try server.client()
            var lines = ["CREATE p a,b,c"]
            for i in 0..<300 { lines.append("VOTE p v\(i) \(["a", "b", "c"][i % 3])") }
            lines += ["TALLY p", "POLLS", "PING"]
            try client.send(lines: lines)
            // A last request without a newline is still answered at end of file.
            try client.send("RESULTS p")
            try client.shutdownWrite()
            let replies = try client.readUntilEOF(timeout: 10)
            var expected = (1...301).map { "OK \($0)" }
            expected += ["TALLY p 301 open a=100 b=100 c=100 total=300", "POLL p open 301 total=300 a,b,c", "END", "PONG"]
            expected += ReplyFormat.resultsBlock(try #require(try replayTally(server.logPath, "p")))
            #expect(replies == expected)
        }
    }

    @Test func halfCloseWithNothingSentClosesAtOnce() throws {
        try withServer { server in
            let client = try server.client()
            try client.shutdownWrite()
            #expect(try client.readUntilEOF() == [])
        }
    }

    @Test func aClientVanishingMidPipelineDoesNotDisturbOthers() throws {
        try withServer { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE p a,b") == "OK 1")
            for round in 0..<5 {
                let rude = try server.client()
                try rude.send(lines: (0..<2000).map { "VOTE p r\(round)v\($0) a" } + (0..<2000).map { _ in "TALLY p" })
                rude.close()
            }
            #expect(try setup.request("PING") == "PONG")
            let tally = try #require(ParsedTally(try setup.request("TALLY p")))
            // Whatever the vanished clients got in, the tally is consistent with the log.
            #expect(try waitUntil { try replayTallyLines(server.logPath) == [try setup.request("TALLY p")] })
            #expect(tally.counts["b"] == 0)
        }
    }

    @Test func manyConnectionsOpenAndCloseCleanly() throws {
        try withServer { server in
            var clients: [TestClient] = []
            for _ in 0..<50 { clients.append(try server.client()) }
            for client in clients { try client.send("PING\n") }
            for client in clients { #expect(try client.expectLine() == "PONG") }
            for client in clients.prefix(25) { #expect(try client.request("QUIT") == "BYE") }
            for client in clients.prefix(25) { #expect(try client.readLine() == nil) }
            clients.removeAll()
            let probe = try server.client()
            #expect(try waitUntil {
                try probe.requestBlock("STATS").contains("STAT connections 1")
            })
        }
    }
}

/// The tally of `poll` rebuilt from the log.
func replayTally(_ path: String, _ poll: String) throws -> Tally? {
    var projection = Projection(limits: .init(maxOptions: 255))
    for event in try scanEvents(path) { try projection.apply(event) }
    return projection.tally(poll)
}
