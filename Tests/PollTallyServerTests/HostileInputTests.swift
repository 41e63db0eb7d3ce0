import PollTallyTestSupport
import Foundation
import PollTallyCore
@testable import PollTallyServer
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// One malformed request line and the error code it must get.
struct HostileLine: Sendable, CustomTestStringConvertible {
    var name: String
    /// The line, without its `\n`.
    var bytes: [UInt8]
    var code: ErrorCode

    init(_ name: String, _ bytes: [UInt8], _ code: ErrorCode) {
        self.name = name
        self.bytes = bytes
        self.code = code
    }

    init(_ name: String, _ text: String, _ code: ErrorCode) {
        self.init(name, Array(text.utf8), code)
    }

    var testDescription: String { name }

    static func text(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Every kind of malformed request the contract names: each gets exactly one `ERR` line.
    static let all: [HostileLine] = {
        let longID = String(repeating: "a", count: 65)
        let tooManyOptions = (0..<65).map { "o\($0)" }.joined(separator: ",")
        let create = text("CREATE p a,b ")
        return [
            // Unknown verbs.
            HostileLine("unknown verb", "FROBNICATE p", .unknownCommand),
            HostileLine("near-miss verb", "VOTES p v a", .unknownCommand),
            HostileLine("verb with NUL", [0x00] + text("PING"), .unknownCommand),
            HostileLine("NUL inside the verb", text("PI") + [0x00] + text("NG"), .unknownCommand),
            HostileLine("verb with a bell", text("PING") + [0x07], .unknownCommand),
            HostileLine("binary verb", [0xFF, 0xFE, 0x01, 0x80], .unknownCommand),
            HostileLine("CR inside the line", "PI\rNG", .unknownCommand),
            HostileLine("long garbage verb", String(repeating: "Z", count: 300), .unknownCommand),
            // Wrong argument counts.
            HostileLine("PING with an argument", "PING now", .badRequest),
            HostileLine("VOTE with two arguments", "VOTE p v", .badRequest),
            HostileLine("VOTE with four arguments", "VOTE p v a extra", .badRequest),
            HostileLine("UNVOTE with one argument", "UNVOTE p", .badRequest),
            HostileLine("UNVOTE with three arguments", "UNVOTE p v a", .badRequest),
            HostileLine("CLOSE without a poll", "CLOSE", .badRequest),
            HostileLine("CLOSE with two polls", "CLOSE p q", .badRequest),
            HostileLine("TALLY without a poll", "TALLY", .badRequest),
            HostileLine("RESULTS with two polls", "RESULTS p q", .badRequest),
            HostileLine("CREATE without options", "CREATE p", .badRequest),
            HostileLine("bare CREATE", "CREATE", .badRequest),
            HostileLine("POLLS with an argument", "POLLS x", .badRequest),
            HostileLine("STATS with an argument", "STATS x", .badRequest),
            HostileLine("HELP with an argument", "HELP me", .badRequest),
            HostileLine("QUIT with an argument", "QUIT now", .badRequest),
            HostileLine("AUTH without a token", "AUTH", .badRequest),
            HostileLine("AUTH with two tokens", "AUTH a b", .badRequest),
            HostileLine("WATCH without a poll", "WATCH", .badRequest),
            HostileLine("TAIL FROM without a seq", "TAIL FROM", .badRequest),
            HostileLine("TAIL FROM a word", "TAIL FROM x", .badRequest),
            HostileLine("TAIL FROM past UInt64", "TAIL FROM 99999999999999999999", .badRequest),
            HostileLine("TAIL with an unknown keyword", "TAIL BOGUS 1", .badRequest),
            // Ids outside the alphabet.
            HostileLine("voter with !", "VOTE p v! a", .badRequest),
            HostileLine("poll with /", "VOTE p/q v a", .badRequest),
            HostileLine("poll with #", "TALLY p#", .badRequest),
            HostileLine("option with $", "CREATE p a,b,c$", .badRequest),
            HostileLine("empty option", "CREATE p a,,b", .badRequest),
            HostileLine("leading comma", "CREATE p ,a,b", .badRequest),
            HostileLine("trailing comma", "CREATE p a,b,", .badRequest),
            HostileLine("non-ASCII poll id", "CREATE pé a,b", .badRequest),
            HostileLine("WATCH of a bad id", "WATCH p*", .badRequest),
            HostileLine("NUL inside a voter id", text("VOTE p v") + [0x00] + text(" a"), .badRequest),
            HostileLine("invalid UTF-8 in an id", text("TALLY p") + [0xC3], .badRequest),
            // Ids over 64 bytes.
            HostileLine("65-byte poll id", "TALLY \(longID)", .badRequest),
            HostileLine("65-byte voter id", "VOTE p \(longID) a", .badRequest),
            HostileLine("65-byte option id", "CREATE p a,\(longID)", .badRequest),
            HostileLine("65-byte poll id in CREATE", "CREATE \(longID) a,b", .badRequest),
            // Invalid UTF-8 in the question.
            HostileLine("truncated UTF-8 question", create + text("caf") + [0xC3], .badRequest),
            HostileLine("0xFF in the question", create + [0xFF, 0xFE, 0x80, 0x81], .badRequest),
            HostileLine("UTF-16 surrogate in the question", create + [0xED, 0xA0, 0x80], .badRequest),
            HostileLine("overlong UTF-8 in the question", create + [0xC0, 0xAF], .badRequest),
            HostileLine("code point past U+10FFFF", create + [0xF4, 0x90, 0x80, 0x80], .badRequest),
            HostileLine("lone continuation byte", create + text("x") + [0x80] + text("y"), .badRequest),
            // NUL and control bytes in the question.
            HostileLine("NUL in the question", create + [0x00] + text("nul"), .badRequest),
            HostileLine("bell in the question", create + text("bell") + [0x07], .badRequest),
            HostileLine("escape sequence in the question", create + text("esc") + [0x1B] + text("[2J"), .badRequest),
            HostileLine("DEL in the question", create + text("del") + [0x7F], .badRequest),
            HostileLine("CR in the question", create + text("one\rtwo"), .badRequest),
            HostileLine("form feed in the question", create + text("one") + [0x0C], .badRequest),
            // Limits.
            HostileLine("line of 4097 bytes", "PING" + String(repeating: " ", count: 4093), .lineTooLong),
            HostileLine("line of 10 KiB", String(repeating: "x", count: 10 * 1024), .lineTooLong),
            HostileLine("65 options", "CREATE p \(tooManyOptions)", .badRequest),
            HostileLine("question of 1025 bytes", "CREATE p a,b " + String(repeating: "q", count: 1025), .badRequest),
            HostileLine("question of 1025 bytes in UTF-8", "CREATE p a,b " + String(repeating: "é", count: 512) + "q", .badRequest),
        ]
    }()
}

/// Hostile input over real TCP: every malformed request gets exactly one `ERR` line with the right
/// code, creates nothing, and leaves the connection usable.
@Suite("Hostile input over TCP")
struct HostileInputTests {
    @Test(arguments: HostileLine.all)
    func malformedLineGetsOneErrorAndTheConnectionStaysUsable(_ hostile: HostileLine) throws {
        try withServer { server in
            let client = try server.client()
            try client.send(bytes: hostile.bytes + [10])
            let reply = try client.expectLine()
            #expect(reply.hasPrefix("ERR \(hostile.code.rawValue) "), "\(hostile.name) → \(reply)")
            #expect(try client.request("PING") == "PONG", "\(hostile.name)")
            // Exactly one reply: nothing else arrives, and nothing was created.
            #expect(try client.linesArriving(within: 0.05).isEmpty, "\(hostile.name)")
            #expect(try client.requestBlock("POLLS") == ["END"], "\(hostile.name)")
        }
    }

    @Test func everyMalformedLinePipelinedInOneWriteGetsOneErrorEachInOrder() throws {
        try withServer { server in
            let client = try server.client()
            var bytes: [UInt8] = []
            for hostile in HostileLine.all { bytes += hostile.bytes + [10] }
            bytes += Array("PING\n".utf8)
            try client.send(bytes: bytes)
            let replies = try client.readLines(HostileLine.all.count + 1)
            for (hostile, reply) in zip(HostileLine.all, replies) {
                #expect(reply.hasPrefix("ERR \(hostile.code.rawValue) "), "\(hostile.name) → \(reply)")
            }
            #expect(replies.last == "PONG")
            #expect(try client.linesArriving(within: 0.05).isEmpty)
            // The same again, one at a time with a PING after each, on the same connection.
            for hostile in HostileLine.all {
                try client.send(bytes: hostile.bytes + [10])
                let reply = try client.expectLine()
                #expect(reply.hasPrefix("ERR \(hostile.code.rawValue) "), "\(hostile.name) → \(reply)")
                #expect(try client.request("PING") == "PONG", "\(hostile.name)")
            }
            #expect(try client.requestBlock("POLLS") == ["END"])
            let errors = try client.requestBlock("STATS").first { $0.hasPrefix("STAT errors ") }
            #expect(errors == "STAT errors \(2 * HostileLine.all.count)")
        }
    }

    @Test func requestsJustInsideTheLimitsAreAccepted() throws {
        try withServer { server in
            let client = try server.client()
            let id64 = String(repeating: "a", count: 64)
            #expect(try client.request("CREATE \(id64) x,y") == "OK 1")
            #expect(try client.request("VOTE \(id64) \(String(repeating: "v", count: 64)) x") == "OK 2")
            let options64 = (0..<64).map { "o\($0)" }.joined(separator: ",")
            #expect(try client.request("CREATE many \(options64)") == "OK 3")
            let question1024 = String(repeating: "é", count: 512)
            #expect(question1024.utf8.count == 1024)
            #expect(try client.request("CREATE q a,b \(question1024)") == "OK 4")
            #expect(try client.request("CREATE ids A-Z_a.z:0@9,b Tabs\tare fine") == "OK 5")
            #expect(try client.request("TALLY \(id64)") == "TALLY \(id64) 2 open x=1 y=0 total=1")
        }
    }

    @Test func maxOptionsAndMaxLineFollowTheConfiguration() throws {
        try withServer(configure: { $0.maxOptions = 4; $0.maxLine = 100 }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b,c,d,e").hasPrefix("ERR bad-request "))
            #expect(try client.request("PING") == "PONG")
            #expect(try client.request("CREATE p a,b,c,d") == "OK 1")
            let at100 = "PING" + String(repeating: " ", count: 96)
            #expect(try client.request(at100) == "PONG")
            #expect(try client.request(at100 + " ").hasPrefix("ERR line-too-long "))
            #expect(try client.request("PING") == "PONG")
        }
    }

    /// A megabyte line sent in many pieces of random sizes: one `ERR line-too-long`, then the
    /// connection works, and another client is served meanwhile.
    @Test func megabyteLineInPiecesGetsOneErrorAndTheConnectionStillWorks() throws {
        try withServer { server in
            let client = try server.client()
            let other = try server.client()
            var random = SplitMix64(seed: 0x11FE)
            var bytes = [UInt8](repeating: 0, count: 1 << 20)
            for i in bytes.indices {
                var byte = UInt8(truncatingIfNeeded: random.next())
                if byte == 10 { byte = 0 }
                bytes[i] = byte
            }
            var offset = 0
            var pieces = 0
            while offset < bytes.count {
                let size = Int(random.next() % 20_000) + 1
                let end = min(bytes.count, offset + size)
                try client.send(bytes: Array(bytes[offset..<end]))
                offset = end
                pieces += 1
                if pieces % 16 == 0 { #expect(try other.request("PING") == "PONG") }
            }
            #expect(pieces > 50)
            try client.send("\nPING\n")
            let first = try client.expectLine()
            #expect(first == "ERR line-too-long request line longer than 4096 bytes; discarded")
            #expect(try client.expectLine() == "PONG")
            #expect(try client.linesArriving(within: 0.1).isEmpty)
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("VOTE p v a") == "OK 2")
        }
    }

    /// A client that pipelines far faster than it reads stops being read once its pending replies
    /// pass `maxOutput`; others are served meanwhile; once it drains it gets every reply in order.
    @Test func greedyClientIsNoLongerReadAndDoesNotStarveOthers() throws {
        try withServer(configure: { $0.maxOutput = 64 * 1024; $0.fsync = .never }) { server in
            let control = try server.client()
            let options = (0..<64).map { "o\($0)" }.joined(separator: ",")
            #expect(try control.request("CREATE big \(options)") == "OK 1")
            let tallyLine = try control.request("TALLY big")
            #expect(tallyLine.utf8.count > 300)

            let greedy = try server.client()
            var small: CInt = 64 * 1024
            setsockopt(greedy.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<CInt>.size))
            let count = 100_000
            let request = Array("TALLY big\n".utf8)
            var all: [UInt8] = []
            all.reserveCapacity(count * request.count)
            for _ in 0..<count { all += request }
            // The sender may block once the server stops reading: send from a thread of its own.
            let fd = greedy.fd
            let payload = all
            let sent = DispatchSemaphore(value: 0)
            let sendError = Locked<String?>(nil)
            Thread {
                var offset = 0
                while offset < payload.count {
                    let n = payload.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                    if n < 0 {
                        if errno == EINTR { continue }
                        let error = errno
                        sendError.withLock { $0 = "send: errno \(error)" }
                        break
                    }
                    offset += n
                }
                sent.signal()
            }.start()

            // The server stops reading the greedy client: its request count settles well below `count`.
            func requests() throws -> Int {
                let line = try control.requestBlock("STATS").first { $0.hasPrefix("STAT requests ") } ?? ""
                return Int(line.split(separator: " ").last ?? "") ?? -1
            }
            // Settled: three readings 250 ms apart that grew only by the STATS requests themselves.
            var previous = -1
            var stable = 0
            var settled = false
            for _ in 0..<60 {
                usleep(250_000)
                let now = try requests()
                stable = now == previous + 1 ? stable + 1 : 0
                previous = now
                if stable == 2 { settled = true; break }
            }
            print("greedy client: the server read \(previous) requests of \(count) before it stopped reading")
            #expect(settled, "the request count never settled: \(previous)")
            #expect(previous < count / 2, "read \(previous) of \(count) requests from a client that reads nothing")

            // Others are not starved while it is held.
            #expect(try control.request("PING", timeout: 10) == "PONG")
            #expect(try control.request("VOTE big ana o1", timeout: 10) == "OK 2")
            let other = try server.client()
            #expect(try other.request("TALLY big", timeout: 10).hasPrefix("TALLY big 2 open o0=0 o1=1 "))

            // Draining resumes reading: every request gets its reply, in order.
            var replies = 0
            var sawVote = false
            while replies < count {
                let line = try greedy.expectLine(timeout: 10)
                #expect(line.hasPrefix("TALLY big "), "reply \(replies): \(line)")
                if line.hasPrefix("TALLY big 2 ") { sawVote = true }
                replies += 1
            }
            #expect(sent.wait(timeout: .now() + 10) == .success)
            #expect(sendError.withLock { $0 } == nil)
            #expect(sawVote)
            #expect(try greedy.request("PING") == "PONG")
            #expect(try greedy.linesArriving(within: 0.05).isEmpty)
        }
    }
}
