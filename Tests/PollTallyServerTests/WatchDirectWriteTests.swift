@testable import PollTallyServer
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The hub writes an `UPDATE` straight to an idle watcher's socket (see `PushGate`). These check,
/// over TCP, that such a line never breaks the connection's own output: never inside a block or
/// between the replies the server owes, and a write the socket takes only in part is finished
/// before anything else.
@Suite("Watch: direct writes")
struct WatchDirectWriteTests {
    /// A watcher pipelines bursts of requests while its poll changes every millisecond. Each burst
    /// goes in one send, so the server reads it at once and owes every reply of it from then on:
    /// updates may come before the first reply of a burst, never after it until the last, and
    /// never inside a block. Every update is newer than the one before, and the last is the TALLY.
    @Test func directUpdatesNeverLandInsideOrBetweenPipelinedReplies() throws {
        try withServer(configure: { $0.watchInterval = .milliseconds(1); $0.fsync = .never }) { server in
            let setup = try server.client()
            #expect(try setup.request("CREATE p a,b,c Which letter? A question long enough for a real block") == "OK 1")
            let port = server.port
            let stop = Locked(false)
            let voter = Background {
                let client = try TestClient(port: port)
                var round = 0
                while !stop.withLock({ $0 }) {
                    try client.send(lines: (0..<20).map { "VOTE p v\((round * 20 + $0) % 500) \(["a", "b", "c"][(round + $0) % 3])" })
                    for reply in try client.readLines(20, timeout: 10) where okSeq(reply) == nil {
                        throw TestClientError("vote: \(reply)")
                    }
                    round += 1
                }
            }
            var voterStopped = false
            defer { if !voterStopped { stop.withLock { $0 = true }; try? voter.wait() } }

            let watcher = try server.client()
            try watcher.send("WATCH p\n")
            #expect(try watcher.expectLine() == "OK watching 1")
            var last: UInt64 = 0
            var latest = ""
            var updates = 0
            var problems: [String] = []
            func take(_ line: String, _ place: String) {
                guard let tally = ParsedTally(line, prefix: "UPDATE"), tally.poll == "p" else {
                    problems.append("\(place): unexpected \(line)")
                    return
                }
                if tally.seq <= last { problems.append("\(place): UPDATE seq \(tally.seq) after \(last)") }
                last = max(last, tally.seq)
                latest = line
                updates += 1
            }
            /// Reads a block's lines after its first, up to `END`; an UPDATE among them is a problem.
            func readBlockRest(_ place: String) throws {
                while true {
                    let line = try watcher.expectLine()
                    if line == "END" { return }
                    if line.hasPrefix("UPDATE ") { problems.append("\(place): \(line) inside a block") }
                }
            }

            let burst = ["PING", "RESULTS p", "TALLY p", "POLLS", "PING", "RESULTS p"]
            for round in 0..<300 where problems.count < 10 {
                try watcher.send(lines: burst)
                var line = try watcher.expectLine()
                while line.hasPrefix("UPDATE ") {
                    take(line, "round \(round), before the replies")
                    line = try watcher.expectLine()
                }
                for (index, request) in burst.enumerated() {
                    if index > 0 { line = try watcher.expectLine() }
                    let place = "round \(round), reply \(index) (\(request))"
                    switch request {
                    case "PING":
                        if line != "PONG" { problems.append("\(place): \(line)") }
                    case "TALLY p":
                        if !line.hasPrefix("TALLY p ") { problems.append("\(place): \(line)") }
                    case "RESULTS p":
                        if !line.hasPrefix("RESULTS p ") { problems.append("\(place): \(line)") }
                        try readBlockRest(place)
                    default:
                        if !line.hasPrefix("POLL p ") { problems.append("\(place): \(line)") }
                        try readBlockRest(place)
                    }
                }
            }
            stop.withLock { $0 = true }
            try voter.wait()
            voterStopped = true
            let wanted = updateLine(forTally: try setup.request("TALLY p"))
            for line in try watcher.linesArriving(within: 0.3) { take(line, "after the votes") }
            #expect(problems.isEmpty, "\(problems.prefix(5))")
            #expect(updates >= 20, "only \(updates) UPDATE lines arrived while the poll kept changing")
            #expect(latest == wanted)
        }
    }

    /// A watcher of 20 wide polls that stops reading while they all change every millisecond: its
    /// socket fills, so the hub's direct writes are cut short and the connection must finish each
    /// before writing anything else, replies included. Once the client reads again, every line
    /// is whole, the replies come in order, seqs grow per poll, and each poll ends on its TALLY.
    /// The connection's own last send is older than the stall timeout when that happens; the
    /// pause is shorter: the client must not be taken for a stalled one.
    @Test func aDirectWriteCutShortIsFinishedBeforeAnythingElse() throws {
        let configure: (inout ServerConfig) -> Void = {
            $0.watchInterval = .milliseconds(1)
            $0.fsync = .never
            $0.stallTimeout = .seconds(2)
        }
        try withServer(configure: configure) { server in
            let setup = try server.client()
            let options = (0..<64).map { "option\($0)" }
            let polls = (0..<20).map { "wide\($0)" }
            for (index, poll) in polls.enumerated() {
                #expect(try setup.request("CREATE \(poll) \(options.joined(separator: ","))") == "OK \(index + 1)")
            }
            // A small receive window and a small server-side send buffer: a tick's 15 KB of
            // updates does not fit once the client stops reading.
            let fd = try connectTCP(port: server.port, maxSegment: 20_000, receiveBuffer: 4096)
            defer { close(fd) }
            try sendAll(fd: fd, Array("WATCH *\n".utf8))
            // The reply is the connection's last send of its own for the whole test.
            usleep(2_500_000)
            let port = server.port
            let storm = Background {
                try voteStorm(port: port, clients: 2, votes: 6000, polls: polls, options: options, seed: 7)
            }
            usleep(1_200_000)
            // Pipelined behind whatever the server holds for this client.
            try sendAll(fd: fd, Array("PING\nTALLY wide3\nPING\n".utf8))

            var splitter = LineSplitter()
            var replies: [String] = []
            var last: [String: UInt64] = [:]
            var latest: [String: String] = [:]
            var problems: [String] = []
            var expected: [String: String]?
            let deadline = TestClient.now() + 60
            while TestClient.now() < deadline && problems.count < 10 {
                let ended = try readRaw(fd: fd, timeout: 0.2) { bytes in
                    for line in splitter.feed(bytes) {
                        guard line.hasPrefix("UPDATE ") else {
                            replies.append(line)
                            continue
                        }
                        guard let tally = ParsedTally(line, prefix: "UPDATE"), tally.order == options,
                              tally.counts.values.reduce(0, +) == tally.total else {
                            problems.append("torn or malformed: \(line.prefix(120))")
                            continue
                        }
                        if let before = last[tally.poll], tally.seq <= before {
                            problems.append("\(tally.poll): seq \(tally.seq) after \(before)")
                        }
                        last[tally.poll] = tally.seq
                        latest[tally.poll] = line
                    }
                    return problems.count < 10
                }
                if ended { problems.append("the server closed the connection"); break }
                if expected == nil && storm.isFinished {
                    expected = try Dictionary(uniqueKeysWithValues: polls.map { ($0, updateLine(forTally: try setup.request("TALLY \($0)"))) })
                }
                if let expected, latest == expected { break }
            }
            try storm.wait()
            #expect(problems.isEmpty, "\(problems.prefix(5))")
            #expect(replies.count == 4, "\(replies.map { $0.prefix(80) })")
            if replies.count == 4 {
                #expect(replies[0] == "OK watching 20")
                #expect(replies[1] == "PONG")
                #expect(replies[2].hasPrefix("TALLY wide3 "))
                #expect(replies[3] == "PONG")
            }
            #expect(splitter.partial.isEmpty)
            let converged = polls.filter { latest[$0] != nil && latest[$0] == expected?[$0] }.count
            #expect(converged == polls.count, "\(converged) of \(polls.count) polls ended on their TALLY")
            #expect(try setup.requestBlock("STATS").contains("STAT slow_consumers_closed 0"))
        }
    }
}
