import Foundation
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The seq of an `EVENT <seq> …` line, or nil.
private func eventSeq(_ line: String) -> UInt64? {
    guard line.hasPrefix("EVENT ") else { return nil }
    return UInt64(line.dropFirst(6).prefix { $0 != " " })
}

/// Follows a TAIL stream: every EVENT line must carry the next seq.
private struct SeqChecker {
    var next: UInt64
    var problems: [String] = []
    var lines = 0
    var lives = 0

    init(from: UInt64) { next = from }

    /// The seq of the last EVENT line seen.
    var last: UInt64 { next - 1 }

    mutating func take(_ line: String) {
        lines += 1
        if let seq = eventSeq(line) {
            if seq != next, problems.count < 5 { problems.append("EVENT \(seq) where \(next) was due") }
            next = seq + 1
        } else if line.hasPrefix("LIVE ") {
            lives += 1
            if line != "LIVE \(next - 1)", problems.count < 5 { problems.append("\(line) after EVENT \(next - 1)") }
        } else if problems.count < 5 {
            problems.append("unexpected line \(line.prefix(120))")
        }
    }
}

/// The durable seq `STATS` reports.
private func stat(_ client: TestClient, _ name: String) throws -> UInt64? {
    let line = try client.requestBlock("STATS").first { $0.hasPrefix("STAT \(name) ") }
    return line.flatMap { UInt64($0.dropFirst("STAT \(name) ".count)) }
}

/// Sends `count` votes for poll `p` from voters `v<first>…`, pipelined 1,000 at a time; returns
/// the replies that were not `OK <seq>` and the highest seq.
private func vote(_ client: TestClient, count: Int, first: Int) throws -> (notOK: [String], last: UInt64) {
    var notOK: [String] = []
    var last: UInt64 = 0
    var sent = 0
    while sent < count {
        let n = min(1000, count - sent)
        try client.send(lines: (0..<n).map { "VOTE p v\(first + sent + $0) \(["a", "b", "c", "d"][$0 % 4])" })
        for reply in try client.readLines(n, timeout: 30) {
            if let seq = okSeq(reply) { last = max(last, seq) } else { notOK.append(reply) }
        }
        sent += n
    }
    return (notOK, last)
}

/// TAIL against the built binary: the memory a stalled tail costs, and the slow-consumer close.
@Suite("polltally serve: TAIL consumers", .serialized)
struct ServeTailTests {
    /// A tail that sends `TAIL FROM 1` and then reads nothing while 200,000 votes go in: the server's
    /// memory stays bounded, the voter gets every `OK`, and when the tail reads again it receives
    /// every event from 1 to the last, in order, without a gap.
    @Test func aStalledTailCostsBoundedMemoryAndThenCatchesUp() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never"])
        defer { server.stop() }
        let voter = try server.client()
        #expect(try voter.request("CREATE p a,b,c,d") == "OK 1")
        let stalled = try server.client()
        try stalled.send("TAIL FROM 1\n")
        let start = processMemoryKiB(server.pid)
        var highest = start?.rss ?? 0
        var notOK: [String] = []
        var last: UInt64 = 1
        for round in 0..<20 {
            let result = try vote(voter, count: 10_000, first: round * 10_000)
            notOK += result.notOK
            last = max(last, result.last)
            highest = max(highest, processMemoryKiB(server.pid)?.rss ?? 0)
        }
        let end = processMemoryKiB(server.pid)
        let peak = max(highest, end?.peak ?? 0)
        print("stalled tail, 200,000 votes: server VmRSS start \(start?.rss ?? -1) KiB, highest sampled \(highest) KiB, end \(end?.rss ?? -1) KiB, VmHWM \(end?.peak ?? -1) KiB")
        #expect(notOK.isEmpty, "\(notOK.prefix(3))")
        #expect(last == 200_001)
        #expect(peak < 150 * 1024, "server peak RSS \(peak) KiB")

        // Now the tail reads: everything from 1 to the last seq, in order, still connected.
        var splitter = LineSplitter()
        var checker = SeqChecker(from: 1)
        var first: String?
        let ended = try stalled.readRaw(timeout: 60) { bytes in
            for line in splitter.feed(bytes) {
                if first == nil { first = line } else { checker.take(line) }
            }
            return checker.last < last
        }
        #expect(first == "OK tailing from 1")
        #expect(!ended, "the tail was closed")
        #expect(checker.problems.isEmpty, "\(checker.problems)")
        #expect(checker.last == last)
        #expect(try stat(voter, "slow_consumers_closed") == 0)
    }

    /// With `--stall-timeout 2`, tails that never read while votes flow are closed. Reading what the
    /// kernel kept, each finds a gap-free run of events and, best effort, a last line
    /// `ERR slow-consumer resume with TAIL FROM <s>`: resuming from `s` gives exactly the events
    /// after the last complete line, no gap, no duplicate.
    @Test func tailsThatNeverReadAreClosedAndResumeExactly() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never", "--stall-timeout", "2", "--segment-size", "1048576"])
        defer { server.stop() }
        let control = try server.client()
        #expect(try control.request("CREATE p a,b,c,d") == "OK 1")
        // About 4.5 MB of EVENT lines on disk before the tails start: more than a socket holds.
        let prefill = try vote(control, count: 100_000, first: 0)
        #expect(prefill.notOK.isEmpty)

        let starts: [UInt64] = [1, 100, 1000]
        var tails: [TestClient] = []
        for from in starts {
            let tail = try server.client()
            try tail.send("TAIL FROM \(from)\n")
            tails.append(tail)
        }
        // Votes keep flowing while the tails read nothing.
        let port = server.port
        let stop = Locked(false)
        let voting = Background {
            let client = try TestClient(port: port)
            var round = 0
            while !stop.withLock({ $0 }) {
                let result = try vote(client, count: 200, first: 1_000_000 + round * 200)
                if !result.notOK.isEmpty { throw ProcessTestError("voter: \(result.notOK.prefix(3))") }
                round += 1
                usleep(50_000)
            }
        }
        let closed = try waitUntil(timeout: 20) { try stat(control, "slow_consumers_closed") == UInt64(starts.count) }
        stop.withLock { $0 = true }
        try voting.wait()
        let closedCount = try stat(control, "slow_consumers_closed") ?? 0
        #expect(closed, "slow_consumers_closed: \(closedCount)")
        let final = try #require(try stat(control, "durable_seq"))

        var withError = 0
        var resumes: [UInt64] = []
        for (tail, from) in zip(tails, starts) {
            var splitter = LineSplitter()
            var checker = SeqChecker(from: from)
            var lines: [String] = []
            let ended = try tail.readRaw(timeout: 20) { bytes in
                for line in splitter.feed(bytes) {
                    if lines.isEmpty || line.contains("ERR ") || lines.last?.contains("ERR ") == true { lines.append(line) }
                    else { checker.take(line); lines.append("") }
                }
                return true
            }
            #expect(ended, "tail from \(from) was not closed")
            #expect(lines.first == "OK tailing from \(from)")
            let errors = lines.filter { $0.contains("ERR ") }
            let partial = String(decoding: splitter.partial, as: UTF8.self)
            #expect(checker.problems.isEmpty, "tail from \(from): \(checker.problems)")
            #expect(errors.count <= 1, "tail from \(from): \(errors)")
            guard let error = errors.first else {
                // No last word (the socket had no room): what arrived is a clean prefix.
                #expect(partial.isEmpty || "EVENT \(checker.last + 1) ".hasPrefix(partial) || partial.hasPrefix("EVENT \(checker.last + 1) "),
                        "tail from \(from): unfinished line \(partial)")
                print("tail from \(from): closed without a last word after EVENT \(checker.last) (\(partial.utf8.count) bytes of a line unfinished)")
                continue
            }
            withError += 1
            print("tail from \(from): last complete EVENT \(checker.last), then \(error)")
            #expect(lines.last == error && partial.isEmpty, "tail from \(from): the error is not the last line")
            #expect(error.hasPrefix("ERR slow-consumer resume with TAIL FROM "), "tail from \(from): the error is not a line of its own: \(error.prefix(200))")
            let resume = error.split(separator: " ").last.flatMap { UInt64($0) }
            #expect(resume == checker.last + 1, "tail from \(from): last complete EVENT \(checker.last) but \(error)")
            if let resume { resumes.append(resume) }
        }
        print("\(withError) of \(starts.count) closed tails found the ERR slow-consumer line")

        // Resuming from each named seq completes the sequence exactly (all at once, to save time).
        let port2 = server.port
        let resumeList = resumes
        let outcomes = Locked([UInt64: (ok: String?, problems: [String], last: UInt64)]())
        try runConcurrently(resumes.count) { index in
            let resume = resumeList[index]
            let again = try TestClient(port: port2)
            try again.send("TAIL FROM \(resume)\n")
            var resumed = SeqChecker(from: resume)
            var splitter = LineSplitter()
            var ok: String?
            try again.readRaw(timeout: 40) { bytes in
                for line in splitter.feed(bytes) {
                    if ok == nil { ok = line } else { resumed.take(line) }
                }
                return resumed.last < final
            }
            outcomes.withLock { $0[resume] = (ok, resumed.problems, resumed.last) }
        }
        for resume in resumes {
            let outcome = outcomes.withLock { $0[resume] }
            #expect(outcome?.ok == "OK tailing from \(resume)")
            #expect(outcome?.problems.isEmpty == true, "resumed from \(resume): \(outcome?.problems ?? [])")
            #expect(outcome?.last == final, "resumed from \(resume): reached \(outcome?.last ?? 0) of \(final)")
        }
    }
    /// Eight tails that never read, on connections with mid-sized socket buffers (a 20,000-byte MSS)
    /// and EVENT lines of varying length, so the server's socket takes partial lines: the
    /// `ERR slow-consumer` each one finds must start a line of its own, and name the first event the
    /// tail did not receive whole.
    @Test func theSlowConsumerErrorStartsItsOwnLineAndNamesTheFirstMissingEvent() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never", "--stall-timeout", "1"])
        defer { server.stop() }
        let control = try server.client()
        #expect(try control.request("CREATE p a,b") == "OK 1")
        var rng = SplitMix64(seed: 77)
        func padded(_ index: Int) -> String { "v\(index)" + String(repeating: "x", count: Int(rng.next() % 41)) }
        for round in 0..<20 {
            try control.send(lines: (0..<1000).map { "VOTE p \(padded(round * 1000 + $0)) \($0 % 2 == 0 ? "a" : "b")" })
            for reply in try control.readLines(1000, timeout: 20) where okSeq(reply) == nil { Issue.record("\(reply)") }
        }
        let count = 8
        var tails: [CInt] = []
        defer { for fd in tails { close(fd) } }
        for index in 0..<count {
            let fd = try connectTCP(port: server.port, maxSegment: 20_000, receiveBuffer: 4096)
            tails.append(fd)
            try sendAll(fd: fd, Array("TAIL FROM \(1 + index * 613)\n".utf8))
        }
        let port = server.port
        let stop = Locked(false)
        let voting = Background {
            let client = try TestClient(port: port)
            var round = 0
            var rng = SplitMix64(seed: 78)
            while !stop.withLock({ $0 }) {
                try client.send(lines: (0..<200).map { "VOTE p w\(round * 200 + $0)\(String(repeating: "y", count: Int(rng.next() % 41))) a" })
                _ = try client.readLines(200, timeout: 20)
                round += 1
                usleep(20_000)
            }
        }
        let closed = try waitUntil(timeout: 20) { try stat(control, "slow_consumers_closed") == UInt64(count) }
        stop.withLock { $0 = true }
        try voting.wait()
        #expect(closed)

        var withError = 0
        var problems: [String] = []
        for (index, fd) in tails.enumerated() {
            let from = UInt64(1 + index * 613)
            var splitter = LineSplitter()
            var checker = SeqChecker(from: from)
            var first: String?
            var errors: [String] = []
            try readRaw(fd: fd, timeout: 10) { bytes in
                for line in splitter.feed(bytes) {
                    if first == nil { first = line } else if line.contains("ERR ") { errors.append(line) } else if errors.isEmpty { checker.take(line) }
                }
                return true
            }
            if first != "OK tailing from \(from)" { problems.append("tail \(index): first line \(first ?? "none")") }
            if !checker.problems.isEmpty { problems.append("tail \(index): \(checker.problems)") }
            guard let error = errors.first else { continue }
            withError += 1
            if !error.hasPrefix("ERR slow-consumer resume with TAIL FROM ") {
                problems.append("tail from \(from): the error is glued to a partly received line: \(error.suffix(120))")
            }
            let resume = error.split(separator: " ").last.flatMap { UInt64($0) }
            if resume != checker.last + 1 {
                problems.append("tail from \(from): last complete EVENT \(checker.last), but told to resume from \(resume.map(String.init) ?? "?")")
            }
        }
        print("\(withError) of \(count) closed tails found the ERR slow-consumer line; \(problems.count) problems")
        #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(4))")
    }
}
