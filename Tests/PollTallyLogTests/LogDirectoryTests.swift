import Testing
@testable import PollTallyLog
import PollTallyCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("LogDirectory")
struct LogDirectoryTests {
    @Test("segment names are 20 zero-padded digits and .log")
    func segmentNames() {
        #expect(LogDirectory.segmentName(firstSeq: 1) == "00000000000000000001.log")
        #expect(LogDirectory.segmentName(firstSeq: 1_048_577) == "00000000000001048577.log")
        #expect(LogDirectory.segmentName(firstSeq: 0) == "00000000000000000000.log")
        #expect(LogDirectory.segmentName(firstSeq: .max) == "18446744073709551615.log")
        #expect(LogDirectory(path: "/data").segmentPath(firstSeq: 42) == "/data/00000000000000000042.log")
    }

    @Test("firstSeq(ofSegmentNamed:) inverts segmentName(firstSeq:)", arguments: [
        UInt64(0), 1, 9, 10, 99, 100, 4096, 1_048_577, 12_345_678_901_234, UInt64.max - 1, UInt64.max,
    ])
    func roundTrip(_ seq: UInt64) {
        let name = LogDirectory.segmentName(firstSeq: seq)
        #expect(name.utf8.count == 24)
        #expect(LogDirectory.firstSeq(ofSegmentNamed: name) == seq)
    }

    @Test("names that are not segments are refused", arguments: [
        "LOCK", "", ".log", "1.log", "notes.txt", "0000000000000000001.log", "000000000000000000001.log",
        "0000000000000000000a.log", "00000000000000000001.LOG", "00000000000000000001.log.tmp",
        "00000000000000000001.txt", "00000000000000000001", "18446744073709551616.log", "99999999999999999999.log",
        " 0000000000000000001.log", "0000000000000000001 .log", "00000000000000000001..log",
    ])
    func nonSegmentNames(_ name: String) {
        #expect(LogDirectory.firstSeq(ofSegmentNamed: name) == nil)
    }

    /// A segment name is exactly 20 decimal digits; a sign is not a digit, and a signed name could
    /// alias a real segment (`+0000000000000000001.log` would be read as a second "segment 1").
    @Test("names with a sign are not segment names", arguments: ["+0000000000000000001.log", "-0000000000000000000.log", "+0000000000000000000.log"])
    func signedNamesRefused(_ name: String) {
        #expect(LogDirectory.firstSeq(ofSegmentNamed: name) == nil)
    }

    @Test("segments() lists only segment files, sorted by first seq")
    func listsSegmentsInOrder() throws {
        try withTempFolder { path in
            let seqs: [UInt64] = [1_000_000, 10, 1, 2, 999, 100_000_000_000]
            for seq in seqs {
                try writeFileBytes(path + "/" + LogDirectory.segmentName(firstSeq: seq), LogFileHeader(firstSeq: seq).encoded)
            }
            for junk in ["LOCK", "notes.txt", "123.log", "00000000000000000005.log.tmp", "0000000000000000000x.log"] {
                try writeFileBytes(path + "/" + junk, [1, 2, 3])
            }
            try FileSystem.createDirectory(path + "/subfolder")
            let segments = try LogDirectory(path: path).segments()
            #expect(segments.map(\.firstSeq) == seqs.sorted())
            #expect(segments.map(\.path) == seqs.sorted().map { path + "/" + LogDirectory.segmentName(firstSeq: $0) })
        }
    }

    @Test("an absent folder has no segments; an empty one neither")
    func absentFolder() throws {
        try withTempFolder { path in
            let absent = try LogDirectory(path: path + "/does/not/exist").segments()
            let empty = try LogDirectory(path: path).segments()
            #expect(absent.isEmpty)
            #expect(empty.isEmpty)
        }
    }

    @Test("createAndLock creates the folder (with parents, 0700) and a LOCK file")
    func createsFolder() throws {
        try withTempFolder { path in
            let dataPath = path + "/a/b/data"
            let directory = LogDirectory(path: dataPath)
            let lock = try directory.createAndLock()
            defer { lock.close() }
            #expect(FileSystem.exists(dataPath + "/LOCK"))
            var info = stat()
            #expect(stat(dataPath, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)
            #expect(try directory.segments().isEmpty)
        }
    }

    @Test("a second createAndLock on the same folder throws .locked until the first lock is released")
    func secondLockFails() throws {
        try withTempFolder { path in
            let directory = LogDirectory(path: path + "/data")
            let first = try directory.createAndLock()
            // flock locks belong to the open file description: a second open in this process conflicts.
            #expect(throws: LogError.locked(path: path + "/data")) { _ = try directory.createAndLock() }
            #expect(throws: LogError.locked(path: path + "/data")) { _ = try LogDirectory(path: path + "/data").createAndLock() }
            first.close()
            let again = try directory.createAndLock()
            again.close()
        }
    }

    @Test("createAndLock on a path that is a file reports an io error naming the LOCK path")
    func lockOnFile() throws {
        try withTempFolder { path in
            let filePath = path + "/plainfile"
            try writeFileBytes(filePath, [0])
            do throws(LogError) {
                let fd = try LogDirectory(path: filePath).createAndLock()
                fd.close()
                Issue.record("expected an error")
            } catch {
                guard case .io(let errorPath, let operation, let errno) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(errorPath == filePath + "/LOCK")
                #expect(operation == "open")
                #expect(errno == Errno(rawValue: ENOTDIR))
            }
        }
    }
}
