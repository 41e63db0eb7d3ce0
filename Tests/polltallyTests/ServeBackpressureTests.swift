import Foundation
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `--max-output` against the built binary: a client that pipelines without reading costs the
/// server bounded memory, does not slow anyone else down, and gets every reply once it reads.
@Suite("polltally serve: backpressure", .serialized)
struct ServeBackpressureTests {
    /// Sends `chunk` `count / repeats` times on the client's socket from a thread of its own.
    static func pipeline(_ client: TestClient, _ line: String, count: Int, perSend: Int = 1000) -> Background {
        let fd = client.fd
        return Background {
            let chunk = Array(String(repeating: line + "\n", count: perSend).utf8)
            for _ in 0..<(count / perSend) { try sendAll(fd: fd, chunk) }
        }
    }

    /// Asks `other` for PONG `times` times while the greedy client reads nothing; each must come
    /// within 2 s. Returns the highest RSS sampled meanwhile (KiB).
    static func stayResponsive(_ other: TestClient, pid: Int32, times: Int) throws -> Int {
        var highest = 0
        for _ in 0..<times {
            #expect(try other.request("PING", timeout: 2) == "PONG")
            highest = max(highest, processMemoryKiB(pid)?.rss ?? 0)
            usleep(100_000)
        }
        return highest
    }

    /// 200,000 pipelined PINGs from a client that reads nothing for a while.
    @Test func twoHundredThousandPipelinedPings() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never"])
        defer { server.stop() }
        let start = processMemoryKiB(server.pid)?.rss ?? 0
        let greedy = try server.client()
        let count = 200_000
        let sender = Self.pipeline(greedy, "PING", count: count)
        let other = try server.client()
        let highest = try Self.stayResponsive(other, pid: server.pid, times: 20)

        var pongs = 0
        var wrong: [String] = []
        var splitter = LineSplitter()
        try greedy.readRaw(timeout: 30) { bytes in
            for line in splitter.feed(bytes) {
                if line == "PONG" { pongs += 1 } else if wrong.count < 3 { wrong.append(line) }
            }
            return pongs < count
        }
        try sender.wait(timeout: 10)
        let end = processMemoryKiB(server.pid)
        print("200,000 pipelined PINGs: server VmRSS start \(start) KiB, highest while not reading \(highest) KiB, VmHWM \(end?.peak ?? -1) KiB")
        #expect(pongs == count)
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(max(highest, end?.peak ?? 0) < 100 * 1024)
        #expect(try greedy.request("PING") == "PONG")
    }

    /// 40,000 pipelined `RESULTS` of a big poll (about 90 MB of replies, far more than the socket
    /// buffers and `--max-output` hold): the server stops reading the greedy client instead of
    /// queueing its replies, stays responsive, and delivers every byte once the client reads.
    @Test func repliesFarBeyondTheSocketBuffersAreNotQueued() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never"])
        defer { server.stop() }
        let setup = try server.client()
        let options = (0..<60).map { "option\($0)" }.joined(separator: ",")
        #expect(try setup.request("CREATE big \(options) " + String(repeating: "Why? ", count: 150)) == "OK 1")
        let block = try setup.requestBlock("RESULTS big")
        let blockBytes = block.reduce(0) { $0 + $1.utf8.count + 1 }
        let start = processMemoryKiB(server.pid)
        let startPeak = start?.peak ?? 0

        let greedy = try server.client()
        let count = 40_000
        let sender = Self.pipeline(greedy, "RESULTS big", count: count)
        let highest = try Self.stayResponsive(setup, pid: server.pid, times: 20)

        var received = 0
        var head: [UInt8] = []
        var tail: [UInt8] = []
        try greedy.readRaw(timeout: 60) { bytes in
            if head.count < blockBytes { head += bytes.prefix(blockBytes - head.count) }
            received += bytes.count
            tail = Array((tail + bytes).suffix(blockBytes))
            return received < count * blockBytes
        }
        try sender.wait(timeout: 10)
        let end = processMemoryKiB(server.pid)
        let peak = end?.peak ?? 0
        print("40,000 pipelined RESULTS (\(count * blockBytes / 1_000_000) MB of replies): server VmRSS start \(start?.rss ?? -1) KiB (VmHWM \(startPeak) KiB), highest sampled while not reading \(highest) KiB, VmHWM at the end \(peak) KiB")
        let expected = Array((block.joined(separator: "\n") + "\n").utf8)
        #expect(received == count * blockBytes)
        #expect(head == expected)
        #expect(tail == expected)
        #expect(max(highest, peak) < 150 * 1024)
        // What `--max-output` promises: past 1 MiB of unsent replies the client is no longer read,
        // so it holds at most that plus the replies to one 64 KiB read (5,461 requests × ~2.1 KB
        // ≈ 11.5 MB). Allow 32 MB above the peak before it connected.
        #expect(peak - startPeak < 32 * 1024, "one client that pipelines RESULTS and reads nothing raised the server's peak RSS by \(peak - startPeak) KiB")
        #expect(try greedy.request("PING") == "PONG")
    }
}
