import PollTallyTestSupport
import Foundation
import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Seeded request lines for fuzzing: valid commands on a few polls mixed with mutations (flipped
/// bytes, truncation, random binary, huge lines, NUL, `\r`, random verbs, overlong ids, many
/// commas, blank lines, odd whitespace).
///
/// `Benchmarks/fuzz.py` holds the same generator, step for step: keep them in step (the digest
/// test below pins both).
struct FuzzLineGenerator {
    private var random: SplitMix64
    static let polls = ["p0", "p1", "p2", "p3"]
    static let tpolls = (0..<20).map { "t\($0)" }
    static let options = ["a", "b", "c", "d"]
    /// Verbs whose replies are blocks or streams (or that close): never generated, so every
    /// request gets exactly one reply line.
    static let multiLineVerbs: Set<String> = ["HELP", "RESULTS", "POLLS", "STATS", "WATCH", "TAIL", "QUIT"]
    static let knownVerbs: Set<String> = ["PING", "CREATE", "VOTE", "UNVOTE", "CLOSE", "TALLY", "RESULTS", "POLLS", "WATCH",
                                          "UNWATCH", "TAIL", "STATS", "AUTH", "HELP", "QUIT"]
    static let maxLine = 4096

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next() & 0xFF) }

    mutating func poll() -> String { below(10) < 7 ? Self.polls[below(4)] : Self.tpolls[below(20)] }
    mutating func voter() -> String { "v\(below(200))" }
    mutating func option() -> String { Self.options[below(4)] }

    mutating func valid() -> String {
        let r = below(100)
        if r < 45 { return "VOTE \(poll()) \(voter()) \(option())" }
        if r < 55 { return "UNVOTE \(poll()) \(voter())" }
        if r < 70 { return "TALLY \(poll())" }
        if r < 80 { return "PING" }
        if r < 88 { return "CREATE \(poll()) a,b,c,d Question \(below(1000))" }
        if r < 89 { return "CLOSE \(Self.tpolls[below(20)])" }
        if r < 92 { return "UNWATCH" }
        if r < 94 { return "AUTH tok\(below(100))" }
        return "vote \(poll()) \(voter()) \(option())"
    }

    /// One generated line without its final `\n` (it may hold `\n` bytes of its own).
    mutating func candidate() -> [UInt8] {
        let m = below(1000)
        if m < 450 { return Array(valid().utf8) }
        if m < 520 {                                  // flipped bytes
            var line = Array(valid().utf8)
            let flips = 1 + below(3)
            for _ in 0..<flips { line[below(line.count)] = byte() }
            return line
        }
        if m < 570 {                                  // truncated
            let line = Array(valid().utf8)
            return Array(line.prefix(below(line.count)))
        }
        if m < 610 {                                  // random binary
            let n = 1 + below(200)
            return (0..<n).map { _ in byte() }
        }
        if m < 613 {                                  // huge
            let n = Self.maxLine + 1 + below(60_000)
            var line: [UInt8] = []
            line.reserveCapacity(n + 8)
            while line.count < n {               // eight bytes per draw, little-endian; no `\n`
                var word = random.next()
                for _ in 0..<8 {
                    let b = UInt8(truncatingIfNeeded: word)
                    line.append(b == 10 ? 0x78 : b)
                    word >>= 8
                }
            }
            return Array(line.prefix(n))
        }
        if m < 618 {                                  // at the line limit, either side
            let n = Self.maxLine - 1 + below(4)
            var line = Array("PING".utf8) + [UInt8](repeating: 0x20, count: n - 4)
            if below(2) == 0 { line.append(13) }
            return line
        }
        if m < 668 {                                  // NUL
            var line = Array(valid().utf8)
            line.insert(0, at: below(line.count + 1))
            return line
        }
        if m < 718 {                                  // \r
            var line = Array(valid().utf8)
            line.insert(13, at: below(line.count + 1))
            return line
        }
        if m < 768 {                                  // random verbs
            let verbs = ["FROB", "VOTEX", "UNVOTE", "TALLYHO", "PING", "Ping", "UNWATCH", "AUTH", "CREATE", "CLOSED", "X", "VOTE"]
            var parts = [verbs[below(verbs.count)]]
            let count = below(5)
            for _ in 0..<count {
                switch below(6) {
                case 0: parts.append(poll())
                case 1: parts.append(voter())
                case 2: parts.append(option())
                case 3: parts.append("*")
                case 4: parts.append("")
                default: parts.append("  ")
                }
            }
            return Array(parts.joined(separator: " ").utf8)
        }
        if m < 808 {                                  // ids around 64 bytes
            let id = String(repeating: "q", count: 60 + below(10))
            switch below(3) {
            case 0: return Array("VOTE \(id) v1 a".utf8)
            case 1: return Array("TALLY \(id)".utf8)
            default: return Array("VOTE p0 \(id) a".utf8)
            }
        }
        if m < 848 {                                  // many commas
            let name = below(2) == 0 ? Self.tpolls[below(20)] : "m\(below(30))"
            let count = 1 + below(100)
            var options = (0..<count).map { "o\($0)" }
            if below(4) == 0 { options.insert("", at: below(options.count + 1)) }
            return Array("CREATE \(name) \(options.joined(separator: ","))".utf8)
        }
        if m < 898 {                                  // blank
            return Array(["", " ", "\t", "  \t ", "\r"][below(5)].utf8)
        }
        if m < 948 {                                  // odd whitespace
            let runs = [" ", "\t", "  ", " \t "]
            var out: [UInt8] = []
            for byte in valid().utf8 {
                if byte == 0x20 { out += Array(runs[below(4)].utf8) } else { out.append(byte) }
            }
            return out
        }
        // Trailing garbage.
        let n = 1 + below(8)
        return Array((valid() + " ").utf8) + (0..<n).map { _ in UInt8(0x21 + below(94)) }
    }

    /// The next line, ending with `\n`; never one whose verb answers with a block or a stream.
    mutating func next() -> [UInt8] {
        while true {
            let line = candidate()
            if !Self.framed(line).contains(where: { Self.isMultiLine($0) }) { return line + [10] }
        }
    }

    /// The verb of a framed line (ASCII upper-cased), or nil for a blank one.
    static func verb(_ line: ArraySlice<UInt8>) -> String? {
        guard let start = line.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return nil }
        let end = line[start...].firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) ?? line.endIndex
        return String(decoding: line[start..<end].map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    static func isMultiLine(_ line: ArraySlice<UInt8>) -> Bool {
        line.count <= maxLine && verb(line).map { multiLineVerbs.contains($0) } == true
    }

    /// Splits bytes at `\n` and drops one `\r` before each, as the server frames them.
    static func framed(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.dropLast() : $0 }
    }

    /// What the reply to one framed line must look like; nil when it gets none (a blank line).
    enum Expectation: Equatable {
        case tooLong, pong, unknownCommand
        /// A known verb: `OK…`, a `TALLY` line or an `ERR` with a request-level code.
        case answered(verb: String)

        static func of(_ line: ArraySlice<UInt8>) -> Expectation? {
            if line.count > maxLine { return .tooLong }
            guard let verb = verb(line) else { return nil }
            if !knownVerbs.contains(verb) { return .unknownCommand }
            if verb == "PING" {
                let rest = line.drop { $0 == 0x20 || $0 == 0x09 }.drop { $0 != 0x20 && $0 != 0x09 }
                if rest.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return .pong }
            }
            return .answered(verb: verb)
        }

        static let requestCodes: Set<String> = ["bad-request", "poll-exists", "no-such-poll", "no-such-option", "poll-closed", "no-vote"]

        func accepts(_ reply: String) -> Bool {
            switch self {
            case .tooLong: return reply.hasPrefix("ERR line-too-long ")
            case .pong: return reply == "PONG"
            case .unknownCommand: return reply.hasPrefix("ERR unknown-command ")
            case .answered(let verb):
                if reply.hasPrefix("ERR ") {
                    let code = reply.split(separator: " ", maxSplits: 2).dropFirst().first.map(String.init) ?? ""
                    return Self.requestCodes.contains(code)
                }
                switch verb {
                case "TALLY": return reply.hasPrefix("TALLY ")
                case "AUTH": return reply == "OK no token is required"
                case "UNWATCH": return reply == "OK"
                default: return reply.hasPrefix("OK ") && UInt64(reply.dropFirst(3)) != nil
                }
            }
        }
    }

    /// FNV-1a 64 of the first `count` lines of `seed`: pins this generator to `Benchmarks/fuzz.py --digest`.
    static func digest(seed: UInt64, count: Int) -> UInt64 {
        var generator = FuzzLineGenerator(seed: seed)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for _ in 0..<count {
            for byte in generator.next() {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
        }
        return hash
    }
}

/// Many connections send seeded random and mutated request lines in random-sized chunks while
/// reading replies; afterwards the server still serves, every reply was the one the framing rules
/// call for, and the tallies equal a replay of the log.
@Suite("Fuzzing over TCP")
struct FuzzTests {
    static let connections = 8
    static let linesPerConnection = 12_500

    @Test func generatorMatchesTheSoakScript() {
        // `python3 Benchmarks/fuzz.py --digest --seed 1 --lines 10000` prints the same number.
        #expect(FuzzLineGenerator.digest(seed: 1, count: 10_000) == 13_711_165_108_059_887_439)
    }

    @Test func frameAndExpectationRules() {
        let f = FuzzLineGenerator.framed(Array("PING\r\nA\r\r\n\nxx".utf8))
        #expect(f.map { Array($0) } == [Array("PING".utf8), Array("A\r".utf8), [], Array("xx".utf8)])
        typealias E = FuzzLineGenerator.Expectation
        #expect(E.of(ArraySlice("  ping \t".utf8)) == .pong)
        #expect(E.of(ArraySlice("PING x".utf8)) == .answered(verb: "PING"))
        #expect(E.of(ArraySlice(" \t ".utf8)) == nil)
        #expect(E.of(ArraySlice("\r".utf8)) == .unknownCommand)
        #expect(E.of(ArraySlice([UInt8](repeating: 0x20, count: 4097))) == .tooLong)
        #expect(E.of(ArraySlice([UInt8](repeating: 0x20, count: 4096))) == nil)
    }

    @Test func randomAndMutatedLinesOnManyConnections() throws {
        try withServer(configure: { $0.fsync = .never }) { server in
            let port = server.port
            let totals = Locked((lines: 0, replies: 0, tooLong: 0, bytes: 0, accepted: 0))
            try runConcurrently(Self.connections + 4) { index in
                if index >= Self.connections {
                    try Self.vandal(port: port, seed: 0xBAD0 + UInt64(index))
                    return
                }
                let result = try Self.fuzzConnection(port: port, seed: 0xF00D_0000 + UInt64(index), index: index)
                totals.withLock {
                    $0.lines += result.lines
                    $0.replies += result.replies
                    $0.tooLong += result.tooLong
                    $0.bytes += result.bytes
                    $0.accepted += result.accepted
                }
            }
            let total = totals.withLock { $0 }
            print("fuzz: \(total.lines) lines, \(total.bytes) bytes, \(total.replies) replies (\(total.accepted) OK <seq>), \(total.tooLong) too long")
            #expect(total.lines >= 100_000)
            #expect(total.tooLong > 0)
            #expect(total.accepted > 5_000, "too few valid commands reached the log")

            // The server still serves, and holds no connection of the fuzzers or vandals.
            let client = try server.client()
            #expect(try client.request("PING") == "PONG")
            var open = ""
            let settled = try waitUntil(timeout: 5) {
                open = try client.requestBlock("STATS").first { $0.hasPrefix("STAT connections ") } ?? "?"
                return open == "STAT connections 1"
            }
            let statsAfter = settled ? "" : try client.requestBlock("STATS").joined(separator: " | ")
            #expect(settled, "connections left open after the fuzzers left: \(open); \(statsAfter)")

            // Every tally equals a replay of the log, which scans and applies without an error.
            let polls = try client.requestBlock("POLLS").dropLast().map { String($0.split(separator: " ")[1]) }
            #expect(polls.count >= 4)
            let served = try polls.map { try client.request("TALLY \($0)") }
            let replayed = try replayTallyLines(server.logPath)
            #expect(served.sorted() == replayed.sorted())
            let events = try scanEvents(server.logPath)
            #expect(!events.isEmpty)
            #expect(events.map(\.seq) == Array(1...UInt64(events.count)))

            // And a restart recovers exactly that.
            try server.restart()
            let after = try server.client()
            #expect(try polls.map { try after.request("TALLY \($0)") } == served)
        }
    }

    struct Outcome { var lines: Int; var replies: Int; var tooLong: Int; var bytes: Int; var accepted: Int }

    /// Sends `linesPerConnection` generated lines in random-sized chunks from one thread while this
    /// one reads the replies, then a sentinel; checks every reply against the framing rules.
    static func fuzzConnection(port: Int, seed: UInt64, index: Int) throws -> Outcome {
        var generator = FuzzLineGenerator(seed: seed)
        var stream: [UInt8] = []
        for _ in 0..<linesPerConnection { stream += generator.next() }
        let expected = FuzzLineGenerator.framed(stream).compactMap(FuzzLineGenerator.Expectation.of)
        let sentinel = "zz-end-\(index)"
        stream += Array("\nTALLY \(sentinel)\nPING\n".utf8)

        let client = try TestClient(port: port)
        let fd = client.fd
        let payload = stream
        let sendError = Locked<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { done.signal() }
            var chunks = SplitMix64(seed: seed ^ 0xC0FFEE)
            var offset = 0
            while offset < payload.count {
                let kind = chunks.next() % 10
                let size = kind == 0 ? Int(chunks.next() % 16) + 1 : kind < 7 ? Int(chunks.next() % 1500) + 1 : Int(chunks.next() % 65_536) + 1
                let end = min(payload.count, offset + size)
                while offset < end {
                    let n = payload.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, end - offset, Int32(MSG_NOSIGNAL)) }
                    if n < 0 {
                        if errno == EINTR { continue }
                        let error = errno
                        sendError.withLock { $0 = "send: errno \(error) at byte \(offset)" }
                        return
                    }
                    offset += n
                }
            }
        }
        writer.stackSize = 1 << 20
        writer.start()

        var replies: [String] = []
        replies.reserveCapacity(expected.count + 2)
        let final = "ERR no-such-poll no poll named \(sentinel)"
        while true {
            guard let line = try client.readLine(timeout: 30) else {
                throw TestClientError("connection \(index): end of file after \(replies.count) replies (\(sendError.withLock { $0 } ?? "no send error"))")
            }
            if line == final { break }
            replies.append(line)
        }
        #expect(try client.expectLine() == "PONG", "connection \(index)")
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(sendError.withLock { $0 } == nil)
        #expect(replies.count == expected.count, "connection \(index): \(replies.count) replies to \(expected.count) requests")
        var mismatches = 0
        for (offset, (expectation, reply)) in zip(expected, replies).enumerated() where !expectation.accepts(reply) {
            mismatches += 1
            if mismatches <= 5 { Issue.record("connection \(index), reply \(offset): expected \(expectation), got \(reply)") }
        }
        #expect(mismatches == 0, "connection \(index): \(mismatches) unexpected replies")
        #expect(try client.request("QUIT") == "BYE")
        #expect(try client.readUntilEOF().isEmpty)
        return Outcome(lines: linesPerConnection, replies: replies.count,
                       tooLong: expected.filter { $0 == .tooLong }.count, bytes: stream.count,
                       accepted: replies.filter { okSeq($0) != nil }.count)
    }

    /// A client that sends junk and valid lines without reading, then resets the connection mid-line.
    static func vandal(port: Int, seed: UInt64) throws {
        var generator = FuzzLineGenerator(seed: seed)
        var random = SplitMix64(seed: seed)
        for _ in 0..<5 {
            let client = try TestClient(port: port)
            var bytes: [UInt8] = []
            for _ in 0..<(200 + Int(random.next() % 2000)) { bytes += generator.next() }
            bytes += (0..<Int(random.next() % 100)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var offset = 0
            while offset < bytes.count {
                let size = min(bytes.count - offset, Int(random.next() % 4096) + 1)
                let n = bytes.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress! + offset, size, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n <= 0 { break }
                offset += n
            }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            client.close()
        }
    }
}
