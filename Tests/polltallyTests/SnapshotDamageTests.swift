import Foundation
import PollTallyTestSupport
import Testing

/// Snapshot files and the built binary: what `serve` says it loaded, what `verify` says of each
/// snapshot, and a damaged snapshot found by `verify` and passed over by `serve`.
@Suite("Snapshots and the built binary")
struct SnapshotDamageTests {
    /// A log of one poll and `votes` votes, stopped with SIGTERM (which writes a snapshot).
    static func makeData(in folder: String, votes: Int) throws -> (data: String, tally: String, snapshot: String) {
        let data = folder + "/data"
        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.request("CREATE s red,green,blue Which?") == "OK 1")
        try client.send(lines: (0..<votes).map { "VOTE s v\($0) \(["red", "green", "blue"][$0 % 3])" })
        #expect(try client.readLines(votes).allSatisfy { okSeq($0) != nil })
        #expect(try client.request("UNVOTE s v0") == "OK \(votes + 2)")
        let tally = try client.request("TALLY s")
        #expect(server.terminate() == .code(0))
        let snapshot = data + "/snapshot-" + String(format: "%020d", votes + 2) + ".snap"
        #expect(FileManager.default.fileExists(atPath: snapshot), "no \(snapshot)")
        return (data, tally, snapshot)
    }

    @Test func serveSaysWhatItLoadedAndVerifyChecksTheSnapshot() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally, snapshot) = try Self.makeData(in: folder, votes: 300)

        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(0), "\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("ok: 302 events (seq 1..302) in 1 segment(s), "), "\(verify.stdout)")
        #expect(verify.stdout.contains("ok: \(snapshot): seq 302, 1 polls, 299 ballots, agrees with the log"), "\(verify.stdout)")
        // Not a terminal: no progress lines.
        #expect(verify.stderr.isEmpty, "\(verify.stderr)")

        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        #expect(server.child.stdout.contains("recovered 302 events (last seq 302, snapshot at seq 302 + 0 from the log, "), "\(server.child.stdout)")
        let client = try server.client()
        #expect(try client.request("TALLY s") == tally)
        #expect(try client.request("VOTE s late red") == "OK 303")
        let stats = try client.requestBlock("STATS")
        #expect(stats.contains("STAT snapshot_seq 302"), "\(stats)")
        #expect(stats.contains("STAT snapshots_damaged 0"))
        #expect(server.terminate() == .code(0))

        // replay reads the whole log, not the snapshot; the next start reads the new snapshot.
        #expect(try replayLines(data) == ["TALLY s 303 open red=100 green=100 blue=100 total=300"])
        let again = try ServerProcess(dataPath: data)
        defer { again.stop() }
        #expect(again.child.stdout.contains("snapshot at seq 303 + 0 from the log"), "\(again.child.stdout)")
        let files = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasSuffix(".snap") }.sorted()
        #expect(files == ["snapshot-00000000000000000302.snap", "snapshot-00000000000000000303.snap"])
    }

    /// A bit flipped anywhere in the snapshot: `verify` names the file and the checksum (or the
    /// header field) and exits 1; `serve` reports it, ignores it and rebuilds from the log.
    @Test func aFlippedBitInASnapshotIsFoundByVerifyAndPassedOverByServe() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally, snapshot) = try Self.makeData(in: folder, votes: 200)
        let healthy = fileBytes(snapshot)
        var rng = SplitMix64(seed: 77)
        let positions = [0, 9, 20, healthy.count - 1] + (0..<4).map { _ in Int.random(in: 40..<(healthy.count - 4), using: &rng) }
        for position in positions {
            let copy = folder + "/copy-\(position)"
            try FileManager.default.copyItem(atPath: data, toPath: copy)
            let damaged = copy + "/" + (snapshot as NSString).lastPathComponent
            var bytes = healthy
            bytes[position] ^= 1 << UInt8(Int.random(in: 0..<8, using: &rng))
            try writeFileBytes(damaged, bytes)

            let verify = try runPolltally(["verify", "--data", copy])
            #expect(verify.exit == .code(1), "byte \(position): \(verify.exit)")
            #expect(verify.stdout.hasPrefix("ok: 202 events"), "byte \(position): the log itself is fine: \(verify.stdout)")
            #expect(verify.stderr.contains(damaged), "byte \(position): \(verify.stderr)")
            #expect(verify.stderr.contains("byte offset"), "byte \(position): \(verify.stderr)")
            if position >= 12 { #expect(verify.stderr.contains("checksum"), "byte \(position): \(verify.stderr)") }

            let server = try ServerProcess(dataPath: copy)
            defer { server.stop() }
            #expect(server.child.stderr.contains("ignoring snapshot"), "byte \(position): \(server.child.stderr)")
            #expect(server.child.stderr.contains(damaged), "byte \(position): \(server.child.stderr)")
            #expect(server.child.stdout.contains("recovered 202 events (last seq 202, "), "byte \(position): \(server.child.stdout)")
            #expect(!server.child.stdout.contains("snapshot at seq"), "byte \(position): \(server.child.stdout)")
            let client = try server.client()
            #expect(try client.request("TALLY s") == tally, "byte \(position)")
            #expect(try client.requestBlock("STATS").contains("STAT snapshots_damaged 1"), "byte \(position)")
            server.stop()
        }
    }

    /// A snapshot written in format 1 (before 2026-11-30), which this version does not read: not
    /// damage. `verify` says it is outdated and exits 0; `serve` passes it over without counting
    /// it as damaged, starts from the log, and its next snapshot replaces it.
    @Test func aSnapshotInTheOlderFormatIsPassedOverNotCountedAsDamage() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally, snapshot) = try Self.makeData(in: folder, votes: 100)
        var bytes = fileBytes(snapshot)
        bytes.replaceSubrange(8..<12, with: [1, 0, 0, 0])
        try writeFileBytes(snapshot, bytes)

        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(0), "\(verify.stderr)")
        #expect(verify.stdout.contains("outdated: \(snapshot): snapshot format version 1, which this version of PollTally does not read"),
                "\(verify.stdout)")

        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        #expect(server.child.stderr.contains("passing over snapshot: \(snapshot): snapshot format version 1"), "\(server.child.stderr)")
        #expect(!server.child.stderr.contains("ignoring snapshot"), "\(server.child.stderr)")
        #expect(server.child.stdout.contains("recovered 102 events (last seq 102, "), "\(server.child.stdout)")
        let client = try server.client()
        #expect(try client.request("TALLY s") == tally)
        #expect(try client.requestBlock("STATS").contains("STAT snapshots_damaged 0"))
    }
}
