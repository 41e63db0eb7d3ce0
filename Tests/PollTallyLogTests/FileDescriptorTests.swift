import Testing
import PollTallyTestSupport
@testable import PollTallyLog
#if canImport(Glibc)
import Glibc
#endif

@Suite("FileDescriptor")
struct FileDescriptorTests {
    @Test("writeAll then readToEnd round-trips the bytes; size follows")
    func roundTrip() throws {
        try withTempFolder { path in
            let file = path + "/f"
            var rng = SplitMix64(seed: 7)
            let bytes = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let fd = try FileDescriptor.open(file, [.readWrite, .create, .exclusive])
            defer { fd.close() }
            #expect(try fd.size() == 0)
            #expect(try fd.readToEnd() == [])
            try fd.writeAll(bytes)
            #expect(try fd.size() == Int64(bytes.count))
            #expect(try fd.readToEnd() == bytes)
            #expect(try fd.readToEnd(from: 99_990) == Array(bytes[99_990...]))
            #expect(try fd.readToEnd(from: Int64(bytes.count)) == [])
            #expect(try fd.readToEnd(from: Int64(bytes.count) + 10) == [])
            try fd.dataSync()
            try fd.sync()
            let other = try FileDescriptor.open(file, .readOnly)
            defer { other.close() }
            #expect(try other.readToEnd() == bytes)
        }
    }

    @Test("readToEnd(into:) fills the front of a reused buffer and says how much; the buffer only grows")
    func readIntoReusedBuffer() throws {
        try withTempFolder { path in
            let long = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try writeFileBytes(path + "/long", long)
            try writeFileBytes(path + "/short", [1, 2, 3])
            try writeFileBytes(path + "/empty", [])
            var buffer: [UInt8] = []
            for (name, expected) in [("short", [UInt8]([1, 2, 3])), ("long", long), ("short", [1, 2, 3]), ("empty", []), ("long", long)] {
                let fd = try FileDescriptor.open(path + "/" + name, .readOnly)
                defer { fd.close() }
                let count = try fd.readToEnd(into: &buffer)
                #expect(count == expected.count, "\(name)")
                #expect(Array(buffer.prefix(count)) == expected, "\(name)")
                #expect(buffer.count >= count)
            }
            // After the long file the buffer kept its size: reading the short one left the rest as it was.
            #expect(buffer.count == long.count)
            #expect(Array(buffer[3...]) == Array(long[3...]))
            let fd = try FileDescriptor.open(path + "/long", .readOnly)
            defer { fd.close() }
            #expect(try fd.readToEnd(into: &buffer, from: 4990) == 10)
            #expect(Array(buffer.prefix(10)) == Array(long[4990...]))
        }
    }

    @Test("an empty write is a no-op")
    func emptyWrite() throws {
        try withTempFolder { path in
            let fd = try FileDescriptor.open(path + "/f", [.writeOnly, .create])
            defer { fd.close() }
            try fd.writeAll([])
            #expect(try fd.size() == 0)
        }
    }

    @Test("truncate shrinks and extends with zeros")
    func truncate() throws {
        try withTempFolder { path in
            let fd = try FileDescriptor.open(path + "/f", [.readWrite, .create])
            defer { fd.close() }
            try fd.writeAll([1, 2, 3, 4, 5, 6, 7, 8])
            try fd.truncate(to: 3)
            #expect(try fd.size() == 3)
            #expect(try fd.readToEnd() == [1, 2, 3])
            try fd.truncate(to: 6)
            #expect(try fd.size() == 6)
            #expect(try fd.readToEnd() == [1, 2, 3, 0, 0, 0])
            try fd.truncate(to: 0)
            #expect(try fd.size() == 0)
        }
    }

    @Test("append mode writes at the end even after a truncate")
    func appendMode() throws {
        try withTempFolder { path in
            let file = path + "/f"
            try writeFileBytes(file, [9, 9, 9, 9])
            let fd = try FileDescriptor.open(file, [.writeOnly, .append])
            defer { fd.close() }
            try fd.truncate(to: 2)
            try fd.writeAll([7, 7])
            #expect(try readFileBytes(file) == [9, 9, 7, 7])
        }
    }

    @Test("read(into:) reads sequentially and returns 0 at the end")
    func sequentialRead() throws {
        try withTempFolder { path in
            let file = path + "/f"
            try writeFileBytes(file, Array(0..<10))
            let fd = try FileDescriptor.open(file, .readOnly)
            defer { fd.close() }
            var buffer = [UInt8](repeating: 0, count: 4)
            var seen: [UInt8] = []
            while true {
                let n = try buffer.withUnsafeMutableBytes { raw throws(Errno) in try fd.read(into: raw) }
                if n == 0 { break }
                seen += buffer[0..<n]
            }
            #expect(seen == Array(0..<10))
        }
    }

    @Test("open errors are typed errnos")
    func openErrors() throws {
        try withTempFolder { path in
            #expect(throws: Errno.noEntry) { _ = try FileDescriptor.open(path + "/missing", .readOnly) }
            try writeFileBytes(path + "/f", [1])
            #expect(throws: Errno.exists) { _ = try FileDescriptor.open(path + "/f", [.writeOnly, .create, .exclusive]) }
            #expect(throws: Errno(rawValue: ENOTDIR)) { _ = try FileDescriptor.open(path + "/f", [.readOnly, .directory]) }
        }
    }

    @Test("writing to a read-only descriptor fails with EBADF")
    func writeToReadOnly() throws {
        try withTempFolder { path in
            try writeFileBytes(path + "/f", [1])
            let fd = try FileDescriptor.open(path + "/f", .readOnly)
            defer { fd.close() }
            #expect(throws: Errno(rawValue: EBADF)) { try fd.writeAll([1, 2, 3]) }
        }
    }

    @Test("tryLockExclusive: a second open file description cannot take the lock until the first is closed")
    func flockConflicts() throws {
        try withTempFolder { path in
            let file = path + "/LOCK"
            let first = try FileDescriptor.open(file, [.readWrite, .create])
            let second = try FileDescriptor.open(file, [.readWrite, .create])
            defer { second.close() }
            #expect(try first.tryLockExclusive())
            #expect(try second.tryLockExclusive() == false)
            first.close()
            #expect(try second.tryLockExclusive())
        }
    }

    @Test("Errno describes itself with the C library's message")
    func errnoDescription() {
        #expect(Errno.noSpace.description == "No space left on device")
        #expect(Errno.ioError.description == "Input/output error")
        #expect(Errno.noSpace != Errno.ioError)
    }
}

@Suite("FileSystem")
struct FileSystemTests {
    @Test("createDirectory makes parents and tolerates an existing folder")
    func createDirectory() throws {
        try withTempFolder { path in
            let nested = path + "/x/y/z"
            try FileSystem.createDirectory(nested)
            try FileSystem.createDirectory(nested)
            #expect(FileSystem.exists(nested))
            try FileSystem.syncDirectory(nested)
        }
    }

    @Test("contents lists names without . and ..; rename and remove work")
    func contentsRenameRemove() throws {
        try withTempFolder { path in
            #expect(try FileSystem.contents(of: path).isEmpty)
            try writeFileBytes(path + "/a", [1])
            try writeFileBytes(path + "/b", [2])
            #expect(try FileSystem.contents(of: path).sorted() == ["a", "b"])
            try FileSystem.rename(path + "/a", to: path + "/c")
            #expect(try FileSystem.contents(of: path).sorted() == ["b", "c"])
            #expect(try readFileBytes(path + "/c") == [1])
            try FileSystem.remove(path + "/b")
            #expect(try FileSystem.contents(of: path) == ["c"])
            #expect(!FileSystem.exists(path + "/b"))
            #expect(throws: Errno.noEntry) { try FileSystem.remove(path + "/b") }
            #expect(throws: Errno.noEntry) { _ = try FileSystem.contents(of: path + "/nope") }
            #expect(throws: Errno.noEntry) { try FileSystem.rename(path + "/nope", to: path + "/d") }
        }
    }
}
