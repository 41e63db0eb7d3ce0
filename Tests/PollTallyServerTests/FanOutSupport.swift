import Foundation
import PollTallyTestSupport
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Many connections read at once from one thread with poll(2), so a test can hold a thousand
/// watchers without a thread each. Only the fds of the clients are used: never mix with their
/// own `readLine` calls.
final class LineSwarm {
    let clients: [TestClient]
    private var buffers: [[UInt8]]
    private(set) var sawEOF: [Bool]
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    init(_ clients: [TestClient]) {
        self.clients = clients
        buffers = Array(repeating: [], count: clients.count)
        sawEOF = Array(repeating: false, count: clients.count)
    }

    /// Reads what arrives within `seconds` (returning early once `done` holds after a read),
    /// handing every complete line to `onLine(client index, line)`.
    func pump(for seconds: Double, until done: () -> Bool = { false }, _ onLine: (Int, String) -> Void) throws {
        let deadline = TestClient.now() + seconds
        var fds = clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        while true {
            let left = deadline - TestClient.now()
            if left <= 0 || done() { return }
            for i in fds.indices { fds[i].revents = 0; fds[i].fd = sawEOF[i] ? -1 : clients[i].fd }
            let ready = poll(&fds, nfds_t(fds.count), Int32(max(1, min(left * 1000, 100))))
            if ready < 0 {
                if errno == EINTR { continue }
                throw TestClientError("poll: errno \(errno)")
            }
            guard ready > 0 else { continue }
            for i in fds.indices where fds[i].revents != 0 {
                try drain(i, onLine)
            }
        }
    }

    private func drain(_ i: Int, _ onLine: (Int, String) -> Void) throws {
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(clients[i].fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                buffers[i].append(contentsOf: chunk[0..<n])
                continue
            }
            if n == 0 || errno == ECONNRESET { sawEOF[i] = true; break }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { break }
            throw TestClientError("recv: errno \(errno)")
        }
        var start = 0
        let bytes = buffers[i]
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            onLine(i, String(decoding: bytes[start..<newline], as: UTF8.self))
            start = newline + 1
        }
        if start > 0 { buffers[i].removeFirst(start) }
    }
}

/// What one watcher has received: its UPDATE lines per poll, and anything that broke the rules.
struct WatcherLog {
    var updates = 0
    var latest: [String: String] = [:]
    var seqs: [String: [UInt64]] = [:]
    var other: [String] = []
    var problems: [String] = []

    mutating func take(_ line: String) {
        guard line.hasPrefix("UPDATE ") else {
            other.append(line)
            return
        }
        guard let tally = ParsedTally(line, prefix: "UPDATE") else {
            problems.append("unparsable \(line)")
            return
        }
        updates += 1
        if let last = seqs[tally.poll]?.last, tally.seq <= last {
            problems.append("\(tally.poll): seq \(tally.seq) after \(last)")
        }
        seqs[tally.poll, default: []].append(tally.seq)
        latest[tally.poll] = line
    }
}

/// The UPDATE line a watcher should end on, given the poll's TALLY reply.
func updateLine(forTally tally: String) -> String {
    "UPDATE " + tally.dropFirst("TALLY ".count)
}

/// `clients` connections each send `votes` VOTE (and some UNVOTE) lines for random polls and
/// voters, pipelined in chunks of 100; every reply must be `OK <seq>` or `ERR no-vote`. Returns
/// the highest seq acknowledged.
@discardableResult
func voteStorm(port: Int, clients: Int, votes: Int, polls: [String], options: [String], seed: UInt64) throws -> UInt64 {
    let highest = Locked<UInt64>(0)
    try runConcurrently(clients) { index in
        let client = try TestClient(port: port)
        var rng = SplitMix64(seed: seed &+ UInt64(index))
        var sent = 0
        while sent < votes {
            let n = min(100, votes - sent)
            let lines = (0..<n).map { _ -> String in
                let poll = polls[Int.random(in: 0..<polls.count, using: &rng)]
                let voter = "c\(index)v\(Int.random(in: 0..<300, using: &rng))"
                if Int.random(in: 0..<10, using: &rng) == 0 { return "UNVOTE \(poll) \(voter)" }
                return "VOTE \(poll) \(voter) \(options[Int.random(in: 0..<options.count, using: &rng)])"
            }
            try client.send(lines: lines)
            var top: UInt64 = 0
            for reply in try client.readLines(n, timeout: 20) {
                if let seq = okSeq(reply) { top = max(top, seq) } else if !reply.hasPrefix("ERR no-vote ") {
                    throw TestClientError("client \(index): unexpected reply \(reply)")
                }
            }
            highest.withLock { $0 = max($0, top) }
            sent += n
        }
    }
    return highest.withLock { $0 }
}
