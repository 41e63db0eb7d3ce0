import Foundation
import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// Snapshots in process: written at shutdown and in the background, loaded at start, never trusted.
@Suite("Snapshots in process")
struct SnapshotTests {
    /// Lines the server reported through `ServerConfig.warn`.
    final class Warnings: Sendable {
        let lines = Locked<[String]>([])
        func configure(_ config: inout ServerConfig) {
            let lines = self.lines
            config.warn = { line in lines.withLock { $0.append(line) } }
        }
        var all: [String] { lines.withLock { $0 } }
    }

    static func snapshots(_ server: TestServer) throws -> [SnapshotStore.File] {
        try SnapshotStore(path: server.logPath).files()
    }

    /// The value of `STAT name`.
    static func stat(_ client: TestClient, _ name: String) throws -> String? {
        try client.requestBlock("STATS").first { $0.hasPrefix("STAT \(name) ") }.map { String($0.dropFirst("STAT \(name) ".count)) }
    }

    /// Every poll's TALLY line, in POLLS order.
    static func tallies(_ client: TestClient) throws -> [String] {
        let polls = try client.requestBlock("POLLS").dropLast().map { String($0.split(separator: " ")[1]) }
        return try polls.map { try client.request("TALLY \($0)") }
    }

    /// Creates `polls` polls p0… and sends `votes` votes over them; returns the last seq.
    @discardableResult
    static func vote(_ client: TestClient, polls: Int = 3, votes: Int, voterPrefix: String = "v", create: Bool = true) throws -> UInt64 {
        if create {
            for p in 0..<polls { #expect(okSeq(try client.request("CREATE p\(p) a,b,c Which?")) != nil) }
        }
        try client.send(lines: (0..<votes).map { "VOTE p\($0 % polls) \(voterPrefix)\($0 % 97) \(["a", "b", "c"][($0 / 3) % 3])" })
        let replies = try client.readLines(votes)
        let seqs = replies.compactMap(okSeq)
        #expect(seqs.count == votes, "\(replies.filter { okSeq($0) == nil }.prefix(3))")
        return seqs.max() ?? 0
    }

    /// Loads every snapshot on disk and checks that it plus the log after it is the full log's state.
    static func expectEverySnapshotAgreesWithTheLog(_ path: String) throws {
        var full = Projection(limits: .init(maxOptions: 255))
        _ = try LogScanner(directory: LogDirectory(path: path)).scan { event, _ throws(LogError) in
            do throws(TallyRule) { try full.apply(event) } catch { throw .invalidEvent(path: path, offset: -1, seq: event.seq, reason: "\(error)") }
        }
        let store = SnapshotStore(path: path)
        for file in try store.files() {
            guard let snapshot = try? store.load(file) else {
                // Pruned by a newer snapshot since it was listed is fine; anything else is not.
                #expect(!FileManager.default.fileExists(atPath: file.path), "\(file.path) does not load")
                continue
            }
            #expect(snapshot.seq <= snapshot.maxSeq)
            var polls: [String: PollState] = [:]
            for section in snapshot.sections { polls.merge(section) { a, _ in a } }
            var restored = Projection(limits: .init(maxOptions: 255), restoring: polls)
            _ = try LogScanner(directory: LogDirectory(path: path)).scan(fromSeq: snapshot.seq + 1) { event, _ throws(LogError) in
                do throws(TallyRule) { try restored.applyUnlessCovered(event) } catch {
                    throw .invalidEvent(path: file.path, offset: -1, seq: event.seq, reason: "\(error)")
                }
            }
            #expect(restored.polls == full.polls, "\(file.path) plus the log after it differs from the full log")
        }
    }

    @Test func shutdownWritesASnapshotAndRestartLoadsIt() throws {
        let server = try TestServer()
        defer { server.finish() }
        var client = try server.client()
        try Self.vote(client, votes: 300)
        #expect(try client.request("UNVOTE p0 v0") != "")
        #expect(okSeq(try client.request("CLOSE p2")) != nil)
        let last = try #require(okSeq(try client.request("VOTE p1 late a")))
        let before = try Self.tallies(client)
        #expect(try Self.snapshots(server).isEmpty)

        try server.restart()
        #expect(try Self.snapshots(server).map(\.seq) == [last])
        #expect(server.server.recovery.snapshotSeq == last)
        #expect(server.server.recovery.logEvents == 0)
        #expect(server.server.recovery.events == Int(last))
        #expect(server.server.recovery.lastSeq == last)
        client = try server.client()
        #expect(try Self.tallies(client) == before)
        #expect(try client.request("VOTE p2 x a") == "ERR poll-closed poll p2 is closed")
        #expect(try client.request("VOTE p1 late a") == "OK \(last)")
        #expect(try client.request("VOTE p1 later b") == "OK \(last + 1)")
        #expect(try Self.stat(client, "snapshot_seq") == "\(last)")
        #expect(waitUntil { (try? Self.stat(client, "background_verify")) == "ok" })
        #expect(try Self.stat(client, "damaged_segments") == "0")
        #expect(try replayTallyLines(server.logPath) == (try Self.tallies(client)))
    }

    @Test func votesAfterTheSnapshotAreReplayedFromTheLog() throws {
        let server = try TestServer()
        defer { server.finish() }
        let first = try Self.vote(try server.client(), votes: 100)
        try server.restart { $0.snapshotEvery = 0 }
        #expect(server.server.recovery.snapshotSeq == first)
        let last = try Self.vote(try server.client(), votes: 50, voterPrefix: "w", create: false)
        try server.restart()
        // --snapshot-every 0 wrote none at that shutdown: the start read the 50 from the log.
        #expect(try Self.snapshots(server).map(\.seq) == [first])
        let recovery = server.server.recovery
        #expect(recovery.snapshotSeq == first)
        #expect(recovery.logEvents == 50)
        #expect(recovery.events == Int(last))
        #expect(try Self.tallies(try server.client()) == (try replayTallyLines(server.logPath)))
    }

    @Test func aDamagedNewestSnapshotFallsBackToTheOlderOneThenToTheLog() throws {
        let server = try TestServer()
        defer { server.finish() }
        let older = try Self.vote(try server.client(), votes: 120)
        try server.restart()
        let newer = try Self.vote(try server.client(), votes: 80, voterPrefix: "w", create: false)
        server.shutdown()
        let files = try Self.snapshots(server)
        #expect(files.map(\.seq) == [older, newer])
        let expected = try replayTallyLines(server.logPath)

        var bytes = try #require(FileManager.default.contents(atPath: files[1].path).map { [UInt8]($0) })
        bytes[bytes.count / 3] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: files[1].path))
        let warnings = Warnings()
        try server.restart { warnings.configure(&$0); $0.snapshotEvery = 0 }
        #expect(server.server.recovery.snapshotSeq == older)
        #expect(server.server.recovery.logEvents == Int(newer - older))
        #expect(warnings.all.count == 1)
        #expect(warnings.all.first?.contains(files[1].path) == true, "\(warnings.all)")
        #expect(warnings.all.first?.contains("checksum") == true, "\(warnings.all)")
        var client = try server.client()
        #expect(try Self.tallies(client) == expected)
        #expect(try Self.stat(client, "snapshots_damaged") == "1")

        // Both damaged: the full log.
        server.shutdown()
        var oldBytes = try #require(FileManager.default.contents(atPath: files[0].path).map { [UInt8]($0) })
        oldBytes[oldBytes.count - 1] ^= 0x01
        try Data(oldBytes).write(to: URL(fileURLWithPath: files[0].path))
        let again = Warnings()
        try server.restart { again.configure(&$0); $0.snapshotEvery = 0 }
        #expect(server.server.recovery.snapshotSeq == 0)
        #expect(server.server.recovery.logEvents == Int(newer))
        #expect(again.all.count == 2, "\(again.all)")
        client = try server.client()
        #expect(try Self.tallies(client) == expected)
        #expect(try Self.stat(client, "snapshots_damaged") == "2")
        // Damaged files are left for inspection, never overwritten.
        #expect(try Self.snapshots(server).map(\.seq) == [older, newer])
    }

    @Test func snapshotsTakenInTheBackgroundWhileVotesFlowAreConsistentCuts() throws {
        let server = try TestServer { $0.snapshotEvery = 150; $0.shards = 3 }
        defer { server.finish() }
        let setup = try server.client()
        for p in 0..<8 { #expect(okSeq(try setup.request("CREATE q\(p) a,b,c")) != nil) }
        let port = server.port
        for round in 0..<4 {
            try runConcurrently(4) { index in
                let client = try TestClient(port: port)
                var rng = SplitMix64(seed: UInt64(round * 10 + index))
                for _ in 0..<10 {
                    let lines = (0..<60).map { _ in
                        let verb = Int.random(in: 0..<10, using: &rng) == 0 ? "UNVOTE" : "VOTE"
                        let voter = "c\(index)v\(Int.random(in: 0..<40, using: &rng))"
                        let poll = "q\(Int.random(in: 0..<8, using: &rng))"
                        return verb == "VOTE" ? "VOTE \(poll) \(voter) \(["a", "b", "c"][Int.random(in: 0..<3, using: &rng)])" : "UNVOTE \(poll) \(voter)"
                    }
                    try client.send(lines: lines)
                    _ = try client.readLines(lines.count, timeout: 10)
                }
            }
            // Every snapshot on disk (the newest two) is a consistent cut, even while votes flowed.
            #expect(waitUntil { (try? Self.snapshots(server).count) ?? 0 >= 1 })
            try Self.expectEverySnapshotAgreesWithTheLog(server.logPath)
        }
        let client = try server.client()
        let written = try #require(Int(try Self.stat(client, "snapshots_written") ?? ""))
        #expect(written >= 4, "only \(written) snapshots in the background")
        #expect(try Self.snapshots(server).count <= 2)
        let before = try Self.tallies(client)
        try server.restart { $0.snapshotEvery = 150; $0.shards = 3 }
        #expect(server.server.recovery.snapshotSeq > 0)
        #expect(try Self.tallies(try server.client()) == before)
        #expect(try replayTallyLines(server.logPath) == before)
    }

    @Test func aSnapshotAheadOfTheLogIsReportedRemovedAndTheLogUsed() throws {
        let server = try TestServer()
        defer { server.finish() }
        let client = try server.client()
        try Self.vote(client, polls: 1, votes: 50)
        let segment = server.logPath + "/" + LogDirectory.segmentName(firstSeq: 1)
        let shortLog = try #require(FileManager.default.contents(atPath: segment))
        let shortTallies = try replayTallyLines(server.logPath)
        try Self.vote(client, polls: 1, votes: 50, voterPrefix: "w", create: false)
        server.shutdown()
        #expect(try Self.snapshots(server).map(\.seq) == [101])
        // What a power loss under --fsync never can leave: the snapshot synced, the log's end not.
        try shortLog.write(to: URL(fileURLWithPath: segment))
        let warnings = Warnings()
        try server.restart { warnings.configure(&$0) }
        #expect(server.server.recovery.snapshotSeq == 0)
        #expect(server.server.recovery.lastSeq == 51)
        #expect(warnings.all.count == 1)
        #expect(warnings.all.first?.contains("log ends at seq 51") == true, "\(warnings.all)")
        #expect(try Self.snapshots(server).isEmpty)
        #expect(try Self.tallies(try server.client()) == shortTallies)
    }

    @Test func theBackgroundPassVerifiesTheSegmentsTheStartSkipped() throws {
        let server = try TestServer { $0.segmentSize = 4096 }
        defer { server.finish() }
        let writer = try server.client()
        #expect(try writer.request("CREATE p0 a,b,c") == "OK 1")
        // Small batches, so the log rolls over many small segments.
        for chunk in 0..<20 {
            try writer.send(lines: (0..<20).map { "VOTE p0 v\(chunk * 20 + $0) \(["a", "b", "c"][$0 % 3])" })
            #expect(try writer.readLines(20).allSatisfy { okSeq($0) != nil })
        }
        try server.restart { $0.segmentSize = 4096 }
        let segments = try LogDirectory(path: server.logPath).segments()
        #expect(segments.count >= 4)
        #expect(server.server.recovery.bytesRead < 8192)
        var client = try server.client()
        #expect(waitUntil { (try? Self.stat(client, "background_verify")) == "ok" })

        // Damage in the middle of the first segment: the start does not read it; the pass finds it.
        server.shutdown()
        var bytes = try #require(FileManager.default.contents(atPath: segments[0].path).map { [UInt8]($0) })
        bytes[2000] ^= 0x08
        try Data(bytes).write(to: URL(fileURLWithPath: segments[0].path))
        let warnings = Warnings()
        try server.restart { warnings.configure(&$0); $0.segmentSize = 4096 }
        client = try server.client()
        #expect(waitUntil { (try? Self.stat(client, "background_verify")) == "damaged" })
        #expect(try Self.stat(client, "damaged_segments") == "1")
        #expect(warnings.all.count == 1)
        let warning = warnings.all.first ?? ""
        #expect(warning.contains(segments[0].path) && warning.contains("byte offset"), "\(warning)")
        // The server keeps serving: its state came from the snapshot and the log after it.
        #expect(try client.request("PING") == "PONG")
    }

    @Test func theBackgroundPassChecksTheRecordsTheStartHoppedOver() throws {
        let server = try TestServer()
        defer { server.finish() }
        try Self.vote(try server.client(), polls: 2, votes: 60)
        server.shutdown()
        let snapshotSeq = try #require(try Self.snapshots(server).last?.seq)
        // One segment: the start reads it, hopping over every record before the snapshot's seq.
        var offsets: [UInt64: Int64] = [:]
        let path = server.logPath + "/" + LogDirectory.segmentName(firstSeq: 1)
        _ = try LogScanner(directory: LogDirectory(path: server.logPath)).scan { event, location in offsets[event.seq] = location.offset }
        // A payload byte of event 10, past its head (length u32, crc u32, kind u8, seq u64, timestamp u64).
        let damaged = Int(try #require(offsets[10])) + 8 + 17 + 2
        var bytes = try #require(FileManager.default.contents(atPath: path).map { [UInt8]($0) })
        bytes[damaged] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let warnings = Warnings()
        try server.restart { warnings.configure(&$0) }
        #expect(server.server.recovery.snapshotSeq == snapshotSeq)
        let client = try server.client()
        #expect(waitUntil { (try? Self.stat(client, "background_verify")) == "damaged" })
        #expect(try Self.stat(client, "damaged_segments") == "1")
        let warning = warnings.all.first ?? ""
        #expect(warning.contains(path) && warning.contains("byte offset \(offsets[10] ?? 0)"), "\(warnings.all)")
        #expect(try client.request("PING") == "PONG")
    }

    @Test func aDifferentShardCountMovesEachPollToItsShard() throws {
        let server = try TestServer { $0.shards = 2 }
        defer { server.finish() }
        try Self.vote(try server.client(), polls: 12, votes: 300)
        let before = try Self.tallies(try server.client())
        for shards in [3, 1, 4] {
            try server.restart { $0.shards = shards }
            #expect(server.server.recovery.snapshotSeq > 0)
            let client = try server.client()
            #expect(try Self.tallies(client) == before, "\(shards) shards")
            // Commands reach the poll's (new) shard, which knows its state.
            #expect(try client.request("CREATE p5 x,y") == "ERR poll-exists poll p5 already exists")
        }
    }

    @Test func snapshotEveryZeroWritesNone() throws {
        let server = try TestServer { $0.snapshotEvery = 0 }
        defer { server.finish() }
        try Self.vote(try server.client(), votes: 50)
        server.shutdown()
        #expect(try Self.snapshots(server).isEmpty)
    }

    @Test func anEmptyLogWritesNoSnapshot() throws {
        let server = try TestServer()
        defer { server.finish() }
        server.shutdown()
        #expect(try Self.snapshots(server).isEmpty)
    }

    @Test func aSnapshotThatCannotBeWrittenIsReportedAndTheServerStopsCleanly() throws {
        let warnings = Warnings()
        let server = try TestServer { warnings.configure(&$0) }
        defer { server.finish() }
        let last = try Self.vote(try server.client(), polls: 1, votes: 9)
        #expect(last == 10)
        // A folder where the temp file should go: opening it for writing fails.
        let blocker = server.logPath + "/" + SnapshotStore.fileName(seq: 10) + ".tmp"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        server.shutdown()
        #expect(try Self.snapshots(server).isEmpty)
        #expect(warnings.all.contains { $0.contains("snapshot at seq 10 not written") && $0.contains(blocker) }, "\(warnings.all)")
        // The next start is from the log, as if there had never been a snapshot.
        try FileManager.default.removeItem(atPath: blocker)
        try server.restart()
        #expect(server.server.recovery.snapshotSeq == 0)
        #expect(server.server.recovery.events == 10)
    }

    @Test func noSnapshotOfStateTheLogFailedToMakeDurable() throws {
        let warnings = Warnings()
        let server = try TestServer { $0.logIO = FailingLogIO(failSyncsAfter: 2); $0.snapshotEvery = 1; warnings.configure(&$0) }
        defer { server.finish() }
        let client = try server.client()
        #expect(try client.request("CREATE p a,b") == "OK 1")
        #expect(try client.request("VOTE p v1 a") == "OK 2")
        #expect(try client.request("VOTE p v2 b").hasPrefix("ERR unavailable"))
        server.shutdown()
        // Whatever was written holds only durable events (seq ≤ 2), and nothing after the failure.
        for file in try Self.snapshots(server) {
            #expect(try SnapshotStore(path: server.logPath).load(file).maxSeq <= 2)
        }
        #expect(warnings.all.contains { $0.contains("dropped") }, "\(warnings.all)")
    }
}
