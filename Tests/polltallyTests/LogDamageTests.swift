import Foundation
import PollTallyCore
import Testing

/// What `verify`, `serve`, `replay` and `dump` do with a damaged segment file.
@Suite("Damaged logs and the built binary")
struct LogDamageTests {
    /// Writes a log through a real server: one poll, `votes` votes, stopped cleanly. Returns the data folder.
    static func makeLog(in folder: String, votes: Int) throws -> (data: String, tally: String) {
        let data = folder + "/data"
        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.request("CREATE d red,green,blue Favourite colour?") == "OK 1")
        try client.send(lines: (0..<votes).map { "VOTE d v\($0) \(["red", "green", "blue"][$0 % 3])" })
        #expect(try client.readLines(votes) == (2...UInt64(votes + 1)).map { "OK \($0)" })
        let tally = try client.request("TALLY d")
        #expect(server.terminate() == .code(0))
        return (data, tally)
    }

    @Test func verifyPassesAHealthyLog() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, _) = try Self.makeLog(in: folder, votes: 50)
        let result = try runPolltally(["verify", "--data", data])
        #expect(result.exit == .code(0), "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok: 51 events (seq 1..51) in 1 segment(s), "), "\(result.stdout)")
        #expect(result.stdout.contains("1 polls"))
    }

    @Test func aFlippedByteInTheMiddleIsCorruptionNamedByFileAndOffset() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, _) = try Self.makeLog(in: folder, votes: 300)
        let segment = firstSegment(data)
        var bytes = fileBytes(segment)
        #expect(bytes.count > 4000)
        let flipped = bytes.count / 2
        bytes[flipped] ^= 0xFF
        try writeFileBytes(segment, bytes)

        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit != .code(0))
        #expect(!verify.exit.signaled)
        #expect(verify.stderr.contains("00000000000000000001.log"), "\(verify.stderr)")
        #expect(verify.stderr.contains("byte offset"), "\(verify.stderr)")
        #expect(!verify.stderr.contains("torn tail"), "damage with records after it is not a torn tail: \(verify.stderr)")
        // The offset named is that of the record holding the flipped byte: at or before it, within a record's length.
        let offset = try #require(Self.offset(in: verify.stderr))
        #expect(offset <= flipped && offset > flipped - 200, "offset \(offset), flipped byte at \(flipped)")

        let serve = try runPolltally(["serve", "--port", "0", "--data", data], timeout: 15)
        #expect(serve.exit != .code(0))
        #expect(!serve.exit.signaled)
        #expect(serve.stderr.contains("byte offset \(offset)"), "\(serve.stderr)")
        #expect(serve.stderr.contains("00000000000000000001.log"))
        #expect(!serve.stdout.contains("listening"))

        for command in ["replay", "dump"] {
            let result = try runPolltally([command, "--data", data])
            #expect(result.exit == .code(1), "\(command): \(result.exit)")
            #expect(result.stderr.contains("byte offset \(offset)"), "\(command): \(result.stderr)")
        }
        // Nothing was "repaired": the file is exactly as damaged.
        #expect(fileBytes(segment) == bytes)
    }

    /// A log of 1,201 events over several 4 KiB segments, stopped cleanly: the data folder and its
    /// segment file names, sorted.
    static func makeSegmentedLog(in folder: String) throws -> (data: String, segments: [String]) {
        let data = folder + "/data"
        let server = try ServerProcess(dataPath: data, extra: ["--segment-size", "4096"])
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.request("CREATE d red,green,blue") == "OK 1")
        // Rounds of 100 votes, each answered before the next: a segment rolls between batches.
        for round in 0..<12 {
            try client.send(lines: (0..<100).map { "VOTE d v\(round * 100 + $0) \(["red", "green", "blue"][$0 % 3])" })
            #expect(try client.readLines(100).count == 100)
        }
        #expect(server.terminate() == .code(0))
        let segments = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasSuffix(".log") }.sorted()
        try #require(segments.count >= 4, "\(segments)")
        return (data, segments)
    }

    static func flipMiddleByte(_ path: String) throws {
        var bytes = fileBytes(path)
        bytes[bytes.count / 2] ^= 0xFF
        try writeFileBytes(path, bytes)
    }

    static func verifyProblems(_ data: String) throws -> (exit: Exit, problems: [Substring], stdout: String) {
        let verify = try runPolltally(["verify", "--data", data])
        return (verify.exit, verify.stderr.split(separator: "\n").filter { $0.hasPrefix("polltally verify: ") }, verify.stdout)
    }

    @Test func verifyNamesTheFirstProblemOfEveryLaterDamagedSegmentToo() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, segments) = try Self.makeSegmentedLog(in: folder)
        // The second segment and the one before the last; the last, which `verify` reads as the
        // log's end (where it may be torn), stays healthy.
        for name in [segments[1], segments[segments.count - 2]] { try Self.flipMiddleByte(data + "/" + name) }

        let (exit, problems, stdout) = try Self.verifyProblems(data)
        #expect(exit == .code(1))
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.first?.contains(segments[1]) == true && problems.first?.contains("byte offset") == true, "\(problems)")
        #expect(problems.last?.contains(segments[segments.count - 2]) == true && problems.last?.contains("byte offset") == true, "\(problems)")
        #expect(stdout.contains("after the first problem: \(segments.count - 2) later segment(s) checked on their own (checksums and seqs), 1 damaged"),
                "\(stdout)")
    }

    @Test func afterAMissingSegmentVerifyStillChecksTheSegmentThatFollowsIt() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, segments) = try Self.makeSegmentedLog(in: folder)
        // The gap names segments[2]; its own records are damaged too, and must be found.
        try FileManager.default.removeItem(atPath: data + "/" + segments[1])
        try Self.flipMiddleByte(data + "/" + segments[2])

        let (exit, problems, stdout) = try Self.verifyProblems(data)
        #expect(exit == .code(1))
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.first?.contains("\(segments[2]): sequence gap at byte offset 0") == true, "\(problems)")
        #expect(problems.last?.contains("\(segments[2]): corrupt record at byte offset") == true, "\(problems)")
        #expect(stdout.contains("1 damaged"), "\(stdout)")
    }

    static func offset(in message: String) -> Int? {
        guard let range = message.range(of: "byte offset ") else { return nil }
        return Int(message[range.upperBound...].prefix { $0.isNumber })
    }

    /// Ways a crash can end the last segment: a record cut in half, junk, a header with no body,
    /// a hole (zeros alone are the writer's room, not damage: see below).
    static let tails: [(name: String, bytes: @Sendable (UInt64) -> [UInt8])] = [
        ("half a record", { seq in
            var record: [UInt8] = []
            RecordFrame.append(Event(seq: seq, timestampMs: 1_700_000_000_000, body: .voteCast(poll: "d", voter: "late", option: "red")), to: &record)
            return Array(record.prefix(record.count / 2))
        }),
        ("junk", { _ in [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x13, 0x37] }),
        ("a frame header only", { _ in [40, 0, 0, 0, 1, 2, 3, 4] }),
        ("zeros, then a byte", { _ in [UInt8](repeating: 0, count: 64) + [1] }),
    ]

    @Test(arguments: 0..<4)
    func tornTailIsCutAndEveryCompleteEventCounted(_ index: Int) throws {
        let (name, makeTail) = Self.tails[index]
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally) = try Self.makeLog(in: folder, votes: 120)
        let segment = firstSegment(data)
        let healthy = fileBytes(segment)
        try writeFileBytes(segment, healthy + makeTail(122))

        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(1), "\(name): \(verify.exit)")
        #expect(verify.stderr.contains("torn tail at byte offset \(healthy.count)"), "\(name): \(verify.stderr)")
        // dump and replay read past nothing and agree with the complete events.
        #expect(try replayLines(data) == [tally], "\(name)")
        #expect(try dumpEvents(data).count == 121, "\(name)")

        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        #expect(server.child.stderr.contains("torn tail"), "\(name): \(server.child.stderr)")
        #expect(server.child.stdout.contains("recovered 121 events (last seq 121,"), "\(name): \(server.child.stdout)")
        let client = try server.client()
        #expect(try client.request("TALLY d") == tally, "\(name)")
        #expect(try client.request("VOTE d late green") == "OK 122", "\(name)")
        #expect(server.terminate() == .code(0))

        let after = try runPolltally(["verify", "--data", data])
        #expect(after.exit == .code(0), "\(name): \(after.stderr)")
        #expect(after.stdout.hasPrefix("ok: 122 events"), "\(name): \(after.stdout)")
        // The cut kept every complete record byte for byte.
        #expect(Array(fileBytes(segment).prefix(healthy.count)) == healthy)
    }

    /// What a SIGKILL leaves: the zeros the writer wrote ahead of its records. They are not
    /// damage: `verify` passes, `serve` writes over them, and a clean stop cuts them.
    @Test func zerosAfterTheRecordsAreRoomNotDamage() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally) = try Self.makeLog(in: folder, votes: 120)
        let segment = firstSegment(data)
        let healthy = fileBytes(segment)
        try writeFileBytes(segment, healthy + [UInt8](repeating: 0, count: 70_000))

        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(0), "\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("ok: 121 events (seq 1..121) in 1 segment(s), \(healthy.count) bytes (and 70000 zero bytes written ahead)"),
                "\(verify.stdout)")
        #expect(try replayLines(data) == [tally])
        #expect(try dumpEvents(data).count == 121)

        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        #expect(!server.child.stderr.contains("torn tail"), "\(server.child.stderr)")
        #expect(server.child.stdout.contains("recovered 121 events (last seq 121,"), "\(server.child.stdout)")
        let client = try server.client()
        #expect(try client.request("VOTE d late green") == "OK 122")
        #expect(fileBytes(segment).count == healthy.count + 70_000, "written over, not appended")
        #expect(server.terminate() == .code(0))

        let after = try runPolltally(["verify", "--data", data])
        #expect(after.stdout.hasPrefix("ok: 122 events"), "\(after.stdout)")
        let bytes = fileBytes(segment)
        #expect(Array(bytes.prefix(healthy.count)) == healthy)
        #expect(bytes.count > healthy.count && bytes.count < healthy.count + 100, "a clean stop cuts the zeros: \(bytes.count)")
    }
}
