import Foundation
import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import PollTallyTestSupport
import Synchronization
import Testing

/// `polltally dump --from <seq>` output, computed in process: every event from `from` on (of
/// `poll` only, if given), as EVENT lines.
func dumpLines(_ logPath: String, from: UInt64, poll: String? = nil) throws -> [String] {
    var lines: [String] = []
    _ = try LogScanner(directory: LogDirectory(path: logPath)).scan(fromSeq: from) { event, _ in
        if poll == nil || event.body.poll == poll { lines.append(EventText.line(event)) }
    }
    return lines
}

/// The seq of an `EVENT <seq> …` line, or nil.
func eventSeq(_ line: String) -> UInt64? {
    guard line.hasPrefix("EVENT ") else { return nil }
    return UInt64(line.dropFirst(6).prefix { $0 != " " })
}

/// The seq of a `LIVE <seq>` line, or nil.
func liveSeq(_ line: String) -> UInt64? {
    guard line.hasPrefix("LIVE ") else { return nil }
    return UInt64(line.dropFirst(5))
}

/// The durable seq `STATS` reports.
func durableSeq(_ client: TestClient) throws -> UInt64 {
    let line = try client.requestBlock("STATS").first { $0.hasPrefix("STAT durable_seq ") }
    guard let line, let seq = UInt64(line.dropFirst("STAT durable_seq ".count)) else { throw TestClientError("no durable_seq in STATS") }
    return seq
}

/// A log layer whose fdatasync waits while the gate is shut: events are written but not durable.
final class GatedLogIO: LogFileIO {
    let shut = Atomic<Bool>(false)

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) { try fd.writeAll(bytes, at: offset) }

    func dataSync(_ fd: FileDescriptor) throws(Errno) {
        while shut.load(ordering: .acquiring) { usleep(1000) }
        try fd.dataSync()
    }
}

/// Checks the lines a tail received after its `OK`: EVENT lines equal `expected` exactly, and each
/// `LIVE n` sits where the tail caught up (after the last event ≤ n, before the first > n).
/// Returns the problems found.
func checkTail(_ lines: [String], expected: [String], from: UInt64, filtered: Bool) -> [String] {
    var problems: [String] = []
    let events = lines.filter { $0.hasPrefix("EVENT ") }
    let others = lines.filter { !$0.hasPrefix("EVENT ") && !$0.hasPrefix("LIVE ") }
    if !others.isEmpty { problems.append("unexpected lines \(others.prefix(3))") }
    let seqs = events.compactMap(eventSeq)
    if seqs.count != events.count { problems.append("unparsable EVENT lines") }
    if let first = seqs.first, first < from { problems.append("first seq \(first) before \(from)") }
    if !filtered, let first = seqs.first, first != from { problems.append("first seq \(first), asked from \(from)") }
    for (a, b) in zip(seqs, seqs.dropFirst()) where b <= a || (!filtered && b != a + 1) {
        problems.append("seq \(b) after \(a)")
        break
    }
    if events != expected {
        let firstDiff = zip(events, expected).enumerated().first { $0.element.0 != $0.element.1 }
        problems.append("got \(events.count) events, dump has \(expected.count); first difference: \(firstDiff.map { "\($0.element.0) ≠ \($0.element.1)" } ?? "none (one is a prefix)")")
    }
    var lastEvent = from - 1
    var pendingLive: UInt64?
    var lives = 0
    for line in lines {
        if let seq = eventSeq(line) {
            if let live = pendingLive, seq <= live { problems.append("EVENT \(seq) after LIVE \(live)") }
            if let live = pendingLive, !filtered, seq != live + 1 { problems.append("EVENT \(seq) right after LIVE \(live)") }
            pendingLive = nil
            lastEvent = seq
        } else if let live = liveSeq(line) {
            lives += 1
            if live < lastEvent || (!filtered && live != lastEvent) { problems.append("LIVE \(live) after EVENT \(lastEvent)") }
            pendingLive = live
        }
    }
    if lives == 0 { problems.append("no LIVE line") }
    return problems
}

/// `TAIL [FROM <seq>] [POLL <poll>]`: catch-up from disk, then live, no gap, no duplicate.
@Suite("TAIL over TCP")
struct TailTests {
    @Test func tailFromOneCatchesUpThenFollowsLive() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE lunch pizza,sushi Where shall we eat?") == "OK 1")
            #expect(try client.request("VOTE lunch ana pizza") == "OK 2")
            #expect(try client.request("VOTE lunch ana sushi") == "OK 3")
            #expect(try client.request("UNVOTE lunch ana") == "OK 4")
            let tail = try server.client()
            try tail.send("TAIL FROM 1\n")
            let head = try tail.readLines(6)
            #expect(head[0] == "OK tailing from 1")
            #expect(Array(head[1...4]) == (try dumpLines(server.logPath, from: 1)))
            #expect(head[1].hasPrefix("EVENT 1 ") && head[1].hasSuffix(" CREATE lunch pizza,sushi Where shall we eat?"))
            #expect(head[2].hasSuffix(" VOTE lunch ana pizza"))
            #expect(head[4].hasSuffix(" UNVOTE lunch ana"))
            #expect(head[5] == "LIVE 4")
            #expect(try client.request("CLOSE lunch") == "OK 5")
            let live = try tail.expectLine()
            #expect(live == (try dumpLines(server.logPath, from: 5)).first)
            #expect(live.hasPrefix("EVENT 5 ") && live.hasSuffix(" CLOSE lunch"))
            #expect(try tail.linesArriving(within: 0.2).isEmpty)
            #expect(try client.requestBlock("STATS").contains("STAT tails 1"))
        }
    }

    @Test func tailWithoutFromGetsOnlyNewEvents() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try client.request("VOTE p v a") == "OK 2")
            let tail = try server.client()
            try tail.send("TAIL\n")
            #expect(try tail.readLines(2) == ["OK tailing from 3", "LIVE 2"])
            #expect(try tail.linesArriving(within: 0.2).isEmpty)
            #expect(try client.request("VOTE p w b") == "OK 3")
            #expect(try client.request("VOTE p v b") == "OK 4")
            #expect(try tail.readLines(2) == (try dumpLines(server.logPath, from: 3)))
        }
    }

    @Test func tailOnAnEmptyLog() throws {
        try withServer { server in
            let tail = try server.client()
            try tail.send("TAIL FROM 1\n")
            #expect(try tail.readLines(2) == ["OK tailing from 1", "LIVE 0"])
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            #expect(try tail.expectLine() == (try dumpLines(server.logPath, from: 1))[0])
        }
    }

    @Test func tailFromZeroStartsAtOne() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            let tail = try server.client()
            try tail.send("TAIL FROM 0\n")
            #expect(try tail.readLines(3) == ["OK tailing from 1"] + (try dumpLines(server.logPath, from: 1)) + ["LIVE 1"])
        }
    }

    @Test func tailFromPastTheHeadWaitsForThatSeq() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            let tail = try server.client()
            try tail.send("TAIL FROM 5\n")
            #expect(try tail.readLines(2) == ["OK tailing from 5", "LIVE 1"])
            try client.send(lines: (0..<6).map { "VOTE p v\($0) a" })
            #expect(try client.readLines(6) == (2...7).map { "OK \($0)" })
            #expect(try tail.readLines(3) == (try dumpLines(server.logPath, from: 5)))
            #expect(try tail.linesArriving(within: 0.2).isEmpty)
        }
    }

    @Test func pollFilterKeepsOnlyThatPoll() throws {
        try withServer { server in
            let client = try server.client()
            // One at a time: pipelined, two polls on two shards may take their seqs in either order.
            for (index, line) in ["CREATE p a,b", "CREATE q a,b", "VOTE p v a", "VOTE q v b", "VOTE q w a", "CLOSE p", "VOTE q x a"].enumerated() {
                #expect(try client.request(line) == "OK \(index + 1)")
            }
            let tail = try server.client()
            try tail.send("TAIL POLL q FROM 1\n")
            let wanted = try dumpLines(server.logPath, from: 1, poll: "q")
            #expect(wanted.count == 4)
            #expect(try tail.readLines(6) == ["OK tailing from 1"] + wanted + ["LIVE 7"])
            #expect(try client.request("VOTE q v a") == "OK 8")
            #expect(try client.request("CREATE r a,b") == "OK 9")
            #expect(try client.request("CLOSE q") == "OK 10")
            #expect(try tail.readLines(2) == (try dumpLines(server.logPath, from: 8, poll: "q")))
            #expect(try tail.linesArriving(within: 0.2).isEmpty)

            // A filter on a poll that does not exist yet is a filter all the same.
            let later = try server.client()
            try later.send("TAIL POLL s\n")
            #expect(try later.readLines(2) == ["OK tailing from 11", "LIVE 10"])
            #expect(try client.request("CREATE s a,b") == "OK 11")
            #expect(try later.expectLine() == (try dumpLines(server.logPath, from: 11, poll: "s"))[0])
        }
    }

    @Test func oneTailPerConnectionAndOtherRequestsStillAnswered() throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            let tail = try server.client()
            try tail.send("TAIL\n")
            #expect(try tail.readLines(2) == ["OK tailing from 2", "LIVE 1"])
            #expect(try tail.request("TAIL FROM 1") == "ERR bad-request this connection is already tailing; open another")
            #expect(try tail.request("PING") == "PONG")
            #expect(try tail.request("TALLY p") == "TALLY p 1 open a=0 b=0 total=0")
            #expect(try client.request("VOTE p v a") == "OK 2")
            #expect(try tail.expectLine() == (try dumpLines(server.logPath, from: 2))[0])
        }
    }

    @Test("bad TAIL forms are bad-request and leave the connection usable", arguments: ["TAIL FROM x", "TAIL FROM", "TAIL FOO 1", "TAIL POLL bad/id"])
    func badForms(_ line: String) throws {
        try withServer { server in
            let client = try server.client()
            #expect(try client.request(line).hasPrefix("ERR bad-request "))
            #expect(try client.request("PING") == "PONG")
            #expect(try client.requestBlock("STATS").contains("STAT tails 0"))
        }
    }

    @Test func aTailSeesOnlyDurableEvents() throws {
        let io = GatedLogIO()
        try withServer(configure: { $0.logIO = io; $0.fsync = .always }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            let tail = try server.client()
            try tail.send("TAIL FROM 1\n")
            #expect(try tail.readLines(3) == ["OK tailing from 1"] + (try dumpLines(server.logPath, from: 1)) + ["LIVE 1"])
            io.shut.store(true, ordering: .releasing)
            try client.send("VOTE p v a\n")
            // The event is written (appended_seq moves) but not synced: nobody may see it yet.
            let observer = try server.client()
            #expect(try waitUntil { try observer.requestBlock("STATS").contains("STAT appended_seq 2") })
            #expect(try observer.requestBlock("STATS").contains("STAT durable_seq 1"))
            #expect(try tail.linesArriving(within: 0.3).isEmpty)
            #expect(try client.linesArriving(within: 0.05).isEmpty)
            io.shut.store(false, ordering: .releasing)
            #expect(try client.expectLine() == "OK 2")
            #expect(try tail.expectLine() == (try dumpLines(server.logPath, from: 2))[0])
        }
    }

    /// While 4 writers vote, 5 tails start from random seqs (one filtered to a poll) and one with no
    /// FROM: each receives exactly `dump --from r`, gap-free and without duplicates, across several
    /// segments, with a LIVE line where it caught up.
    @Test func tailsDuringWritersMatchDump() throws {
        try withServer(configure: { $0.segmentSize = 64 << 10 }) { server in
            let setup = try server.client()
            let polls = ["t0", "t1", "t2", "t3"]
            for (index, poll) in polls.enumerated() { #expect(try setup.request("CREATE \(poll) a,b,c") == "OK \(index + 1)") }
            let port = server.port
            try voteStorm(port: port, clients: 2, votes: 1500, polls: polls, options: ["a", "b", "c"], seed: 5)

            let writers = Background {
                try voteStorm(port: port, clients: 4, votes: 6000, polls: polls, options: ["a", "b", "c"], seed: 50)
            }
            /// Per tail: what it asked for, and the final seq it must reach (set once the writers are done).
            struct Plan: Sendable { var from: UInt64?; var poll: String? }
            let targets = Locked<[Int: UInt64]>([:])
            let received = Locked<[Int: (from: UInt64, lines: [String])]>([:])
            var rng = SplitMix64(seed: 2026)
            var tails: [Background] = []
            let base = try durableSeq(setup)
            for index in 0..<6 {
                // Start each tail while the writers run: after they have added another ~800 events.
                var head = try durableSeq(setup)
                while head < base + 800 * UInt64(index + 1), !writers.isFinished {
                    usleep(UInt32.random(in: 1_000...5_000, using: &rng))
                    head = try durableSeq(setup)
                }
                #expect(!writers.isFinished, "the writers finished before tail \(index) started")
                let startHead = head
                let plan: Plan
                switch index {
                case 4: plan = Plan(from: UInt64.random(in: 1...startHead, using: &rng), poll: "t1")
                case 5: plan = Plan(from: nil, poll: nil)
                default: plan = Plan(from: UInt64.random(in: 1...startHead, using: &rng), poll: nil)
                }
                tails.append(Background {
                    let client = try TestClient(port: port)
                    var request = "TAIL"
                    if let from = plan.from { request += " FROM \(from)" }
                    if let poll = plan.poll { request += " POLL \(poll)" }
                    try client.send(request + "\n")
                    let ok = try client.expectLine()
                    guard ok.hasPrefix("OK tailing from "), let from = UInt64(ok.dropFirst("OK tailing from ".count)) else {
                        throw TestClientError("\(request): \(ok)")
                    }
                    if let asked = plan.from, asked != from { throw TestClientError("\(request): \(ok)") }
                    if plan.from == nil, from <= startHead { throw TestClientError("\(request) after durable seq \(startHead): \(ok)") }
                    var lines: [String] = []
                    var last: UInt64 = 0
                    let deadline = TestClient.now() + 20
                    while TestClient.now() < deadline {
                        for line in try client.linesArriving(within: 0.05) {
                            lines.append(line)
                            if let seq = eventSeq(line) { last = seq }
                        }
                        if let target = targets.withLock({ $0[index] }), last >= target { break }
                    }
                    // Whatever follows the last event (a LIVE line, once the tail reaches the head)
                    // is part of the record too; under load it can take a moment.
                    let liveDeadline = TestClient.now() + 5
                    while !lines.contains(where: { $0.hasPrefix("LIVE ") && (UInt64($0.dropFirst(5)) ?? 0) >= last }),
                          TestClient.now() < liveDeadline {
                        lines += try client.linesArriving(within: 0.1)
                    }
                    received.withLock { $0[index] = (from, lines) }
                })
            }
            try writers.wait()
            let final = try durableSeq(setup)
            let lastOfT1 = try dumpLines(server.logPath, from: 1, poll: "t1").last.flatMap(eventSeq) ?? 0
            targets.withLock { targets in
                for index in 0..<6 { targets[index] = index == 4 ? lastOfT1 : final }
            }
            for tail in tails { try tail.wait() }

            #expect(try LogDirectory(path: server.logPath).segments().count >= 5)
            let results = received.withLock { $0 }
            for index in 0..<6 {
                guard let (from, lines) = results[index] else {
                    Issue.record("tail \(index) returned nothing")
                    continue
                }
                let poll = index == 4 ? "t1" : nil
                let expected = try dumpLines(server.logPath, from: from, poll: poll)
                #expect(!expected.isEmpty)
                let problems = checkTail(lines, expected: expected, from: from, filtered: poll != nil)
                #expect(problems.isEmpty, "tail \(index) from \(from)\(poll.map { " poll \($0)" } ?? ""): \(problems.prefix(4))")
                if index == 5 {
                    #expect(lines.first == "LIVE \(from - 1)", "TAIL without FROM starts with LIVE: \(lines.prefix(2))")
                }
            }
        }
    }
}
