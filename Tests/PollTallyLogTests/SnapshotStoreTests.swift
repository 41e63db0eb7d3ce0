import Testing
@testable import PollTallyLog
@testable import PollTallyCore

@Suite("SnapshotStore")
struct SnapshotStoreTests {
    /// A snapshot of `polls` polls with `voters` ballots each, over `sections` sections.
    static func makeSnapshot(seq: UInt64, polls: Int = 6, voters: Int = 40, sections: Int = 2) -> Snapshot {
        var parts = Array(repeating: [String: PollState](), count: sections)
        var next: UInt64 = 1
        for p in 0..<polls {
            var projection = Projection()
            let poll = "poll\(p)"
            do throws(TallyRule) {
                try projection.apply(Event(seq: next, timestampMs: 0, body: .pollCreated(poll: poll, options: ["yes", "no", "maybe"], question: "Q\(p)?")))
                next += 1
                for v in 0..<voters {
                    try projection.apply(Event(seq: next, timestampMs: 0, body: .voteCast(poll: poll, voter: "v\(v)", option: ["yes", "no", "maybe"][(v + p) % 3])))
                    next += 1
                }
            } catch {
                Issue.record("\(error)")
            }
            parts[p % sections][poll] = projection.polls[poll]
        }
        return Snapshot(seq: min(seq, next - 1), maxSeq: next - 1, sections: parts)
    }

    @Test("names sort by seq and parse back; other names are not snapshots")
    func names() {
        #expect(SnapshotStore.fileName(seq: 42) == "snapshot-00000000000000000042.snap")
        #expect(SnapshotStore.seq(ofFileNamed: "snapshot-00000000000000000042.snap") == 42)
        #expect(SnapshotStore.seq(ofFileNamed: SnapshotStore.fileName(seq: .max)) == .max)
        for name in ["snapshot-42.snap", "snapshot-0000000000000000004x.snap", "00000000000000000001.log",
                     "snapshot-00000000000000000042.snap.tmp", "LOCK"] {
            #expect(SnapshotStore.seq(ofFileNamed: name) == nil, "\(name)")
        }
        #expect(SnapshotStore.fileName(seq: 9) < SnapshotStore.fileName(seq: 10))
    }

    @Test("write then load gives the same snapshot; no temp file is left")
    func writeAndLoad() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            let snapshot = Self.makeSnapshot(seq: .max, sections: 3)
            let file = try store.write(snapshot)
            #expect(file.path == path + "/" + SnapshotStore.fileName(seq: snapshot.seq))
            #expect(try store.files() == [file])
            #expect(try store.load(file) == snapshot)
            #expect(try FileSystem.contents(of: path).sorted() == [SnapshotStore.fileName(seq: snapshot.seq)])
        }
    }

    @Test("the parallel decode equals the serial one")
    func parallelEqualsSerial() throws {
        let bytes = SnapshotCodec.encode(Self.makeSnapshot(seq: .max, polls: 20, voters: 300, sections: 4))
        let parallel = try bytes.withUnsafeBytes { raw throws(SnapshotCodec.DecodeError) in try SnapshotStore.decodeInParallel(raw) }
        #expect(parallel == (try SnapshotCodec.decode(bytes)))
    }

    @Test("files are listed oldest first; prune keeps the newest two")
    func listAndPrune() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            for seq: UInt64 in [30, 10, 20, 40] { try store.write(encoded: [1, 2, 3], seq: seq) }
            #expect(try store.files().map(\.seq) == [10, 20, 30, 40])
            #expect(store.prune(keeping: 2).isEmpty)
            #expect(try store.files().map(\.seq) == [30, 40])
            #expect(store.prune(keeping: 2).isEmpty)
            #expect(try store.files().map(\.seq) == [30, 40])
        }
    }

    @Test("a damaged file loads as .damaged naming the file and offset")
    func damaged() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            let file = try store.write(Self.makeSnapshot(seq: .max))
            var bytes = try readFileBytes(file.path)
            bytes[bytes.count / 2] ^= 0x04
            try writeFileBytes(file.path, bytes)
            do throws(SnapshotError) {
                _ = try store.load(file)
                Issue.record("damage not found")
            } catch {
                guard case .damaged(let damagedPath, let decodeError) = error else { Issue.record("\(error)"); return }
                #expect(damagedPath == file.path)
                // The middle byte is in a section: its own checksum names where the section starts.
                let layout = try bytes.withUnsafeBytes { raw throws(SnapshotCodec.DecodeError) in try SnapshotCodec.layout(of: raw) }
                let section = try #require(layout.sections.first { $0.range.contains(bytes.count / 2) })
                #expect(decodeError.offset == section.range.lowerBound)
                #expect(error.description.contains(file.path) && error.description.contains("checksum mismatch"))
            }
        }
    }

    @Test("a file in an older format version is .olderFormat, a newer or unknown one .damaged")
    func olderFormat() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            let file = try store.write(Self.makeSnapshot(seq: 7))
            let healthy = try readFileBytes(file.path)
            for (version, older) in [(UInt32(1), true), (SnapshotCodec.currentVersion + 1, false), (0, false)] {
                var bytes = healthy
                bytes.storeLittleEndian(version, at: 8)
                try writeFileBytes(file.path, bytes)
                do throws(SnapshotError) {
                    _ = try store.load(file)
                    Issue.record("version \(version) loaded")
                } catch {
                    if older {
                        #expect(error == .olderFormat(path: file.path, version: version))
                    } else {
                        #expect(error == .damaged(path: file.path, .unsupportedVersion(version)))
                    }
                }
            }
        }
    }

    @Test("a file whose name and content disagree on the seq is damaged")
    func nameMismatch() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            let file = try store.write(Self.makeSnapshot(seq: 50))
            let renamed = SnapshotStore.File(seq: 51, path: path + "/" + SnapshotStore.fileName(seq: 51))
            try FileSystem.rename(file.path, to: renamed.path)
            #expect(throws: SnapshotError.self) { try store.load(renamed) }
        }
    }

    @Test("an unreadable file is an io error, and temp files are removed")
    func missingAndTemporary() throws {
        try withTempFolder { path in
            let store = SnapshotStore(path: path)
            let ghost = SnapshotStore.File(seq: 7, path: path + "/" + SnapshotStore.fileName(seq: 7))
            #expect(throws: SnapshotError.self) { try store.load(ghost) }
            try writeFileBytes(path + "/" + SnapshotStore.fileName(seq: 9) + ".tmp", [1, 2, 3])
            try writeFileBytes(path + "/other.tmp", [1])
            store.removeTemporaryFiles()
            #expect(try FileSystem.contents(of: path) == ["other.tmp"])
            #expect(try SnapshotStore(path: path + "/absent").files().isEmpty)
        }
    }
}
