@testable import PollTallyServer
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The stall timeout and `--max-output` backpressure, in process. (The memory bounds, and the
/// `ERR slow-consumer resume with TAIL FROM <seq>` of a stalled tail, are process tests against
/// the built binary: see `ServeTailTests` and `ServeBackpressureTests`.)
@Suite("Slow consumers")
struct SlowConsumerTests {
    static func stat(_ client: TestClient, _ name: String) throws -> Int? {
        let line = try client.requestBlock("STATS").first { $0.hasPrefix("STAT \(name) ") }
        return line.flatMap { Int($0.dropFirst("STAT \(name) ".count)) }
    }

    /// A client that pipelines big requests and reads nothing is closed once the socket has taken
    /// no byte for the stall timeout; other clients never notice.
    @Test func aStalledClientIsClosedAndOthersCarryOn() throws {
        try withServer(configure: { $0.stallTimeout = .seconds(1) }) { server in
            let setup = try server.client()
            let options = (0..<60).map { "option\($0)" }.joined(separator: ",")
            #expect(try setup.request("CREATE big \(options) " + String(repeating: "Why? ", count: 150)) == "OK 1")
            let blockLines = try setup.requestBlock("RESULTS big")
            let blockBytes = blockLines.reduce(0) { $0 + $1.utf8.count + 1 }
            // Ask for about 24 MB of RESULTS blocks: far more than the socket buffers hold.
            let requests = 24_000_000 / blockBytes
            let stalled = try server.client()
            let fd = stalled.fd
            let sender = Background {
                let chunk = Array(String(repeating: "RESULTS big\n", count: 500).utf8)
                for _ in 0..<(requests / 500) { try sendAll(fd: fd, chunk) }
            }
            #expect(try waitUntil(timeout: 15) { try Self.stat(setup, "slow_consumers_closed") == 1 })
            // Every other client is served all along.
            #expect(try setup.request("PING", timeout: 2) == "PONG")
            #expect(try setup.request("VOTE big v option3") == "OK 2")
            // The stalled client's socket is closed: reading on, it finds the end (a reset if the
            // server had unread requests), never more than a few MB, and at most an error line.
            var splitter = LineSplitter()
            var lines = 0
            var errors: [String] = []
            let ended = try stalled.readRaw(timeout: 10) { bytes in
                for line in splitter.feed(bytes) {
                    lines += 1
                    if line.contains("ERR ") { errors.append(line) }
                }
                return true
            }
            #expect(ended)
            #expect(lines < 24_000_000 / 100)
            #expect(errors.allSatisfy { $0 == "ERR slow-consumer no bytes accepted for 1 s; closing" }, "\(errors)")
            _ = try? sender.wait(timeout: 10)
            #expect(try Self.stat(setup, "connections") == 1)
        }
    }

    /// A client that reads slowly but never stops for the stall timeout is not closed.
    @Test func aSlowButSteadyTailIsNotClosed() throws {
        try withServer(configure: { $0.stallTimeout = .seconds(1); $0.fsync = .never }) { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE p a,b") == "OK 1")
            for chunk in 0..<30 {
                try setup.send(lines: (0..<1000).map { "VOTE p v\(chunk * 1000 + $0) \($0 % 2 == 0 ? "a" : "b")" })
                _ = try setup.readLines(1000, timeout: 10)
            }
            let last: UInt64 = 30_001
            let tail = try server.client()
            try tail.send("TAIL FROM 1\n")
            var splitter = LineSplitter()
            var next: UInt64 = 1
            var problems: [String] = []
            var sawLive = false
            // 64 KiB at most every 150 ms: slower than the server could send, but never stalled.
            let deadline = TestClient.now() + 20
            while !sawLive, TestClient.now() < deadline {
                var taken = 0
                try tail.readRaw(timeout: 0.2) { bytes in
                    taken += bytes.count
                    for line in splitter.feed(bytes) {
                        if line.hasPrefix("EVENT ") {
                            let seq = eventSeq(line)
                            if seq != next { problems.append("EVENT \(seq.map(String.init) ?? line) where \(next) was due") }
                            next = (seq ?? next) + 1
                        } else if line == "LIVE \(last)" {
                            sawLive = true
                        } else if line != "OK tailing from 1" && !line.hasPrefix("LIVE ") {
                            problems.append("unexpected \(line)")
                        }
                    }
                    return taken < 64 * 1024
                }
                usleep(150_000)
            }
            #expect(problems.isEmpty, "\(problems.prefix(3))")
            #expect(next == last + 1)
            #expect(sawLive)
            #expect(try Self.stat(setup, "slow_consumers_closed") == 0)
        }
    }

    /// Past `maxOutput` of unsent replies the server stops reading a client's requests; everyone
    /// else is answered, and once the client reads, it gets every reply in order.
    @Test func readingStopsPastMaxOutputAndResumes() throws {
        try withServer(configure: { $0.maxOutput = 4096 }) { server in
            let greedy = try server.client()
            let count = 100_000
            let fd = greedy.fd
            let sender = Background {
                let chunk = Array(String(repeating: "PING\n", count: 1000).utf8)
                for _ in 0..<(count / 1000) { try sendAll(fd: fd, chunk) }
            }
            let other = try server.client()
            for _ in 0..<10 {
                #expect(try other.request("PING", timeout: 2) == "PONG")
                usleep(50_000)
            }
            var pongs = 0
            var splitter = LineSplitter()
            var wrong: [String] = []
            try greedy.readRaw(timeout: 30) { bytes in
                for line in splitter.feed(bytes) {
                    if line == "PONG" { pongs += 1 } else { wrong.append(line) }
                }
                return pongs < count
            }
            try sender.wait(timeout: 10)
            #expect(pongs == count)
            #expect(wrong.isEmpty, "\(wrong.prefix(3))")
            #expect(try greedy.request("PING") == "PONG")
        }
    }
}
