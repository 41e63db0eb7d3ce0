#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The data folder: its segment files (named by their first seq, so names sort in log order)
/// and its lock file.
///
/// ```
/// polltally-data/
///   LOCK                         flock'ed by the running server
///   00000000000000000001.log     segment whose first record has seq 1
///   00000000000001048577.log     next segment, first seq 1048577
/// ```
public struct LogDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// One segment file.
    public struct Segment: Sendable, Equatable {
        public var firstSeq: UInt64
        public var path: String
    }

    static let suffix = ".log"

    /// The file name of the segment starting at `firstSeq`: 20 zero-padded digits, `.log`.
    public static func segmentName(firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The first seq in a segment file name, or nil if `name` is not a segment name.
    public static func firstSeq(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.utf8.count == 20 + suffix.utf8.count else { return nil }
        let digits = name.utf8.prefix(20)
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    public func segmentPath(firstSeq: UInt64) -> String {
        path + "/" + Self.segmentName(firstSeq: firstSeq)
    }

    /// The segments, in log order. An absent folder has none.
    public func segments() throws(LogError) -> [Segment] {
        guard FileSystem.exists(path) else { return [] }
        let names: [String]
        do throws(Errno) { names = try FileSystem.contents(of: path) } catch { throw .io(path: path, operation: "list", error) }
        return names.compactMap { name in
            Self.firstSeq(ofSegmentNamed: name).map { Segment(firstSeq: $0, path: path + "/" + name) }
        }.sorted { $0.firstSeq < $1.firstSeq }
    }

    /// Creates the folder (0700) if missing and takes its lock; the returned descriptor holds the
    /// lock until closed or the process exits.
    public func createAndLock() throws(LogError) -> FileDescriptor {
        let existed = FileSystem.exists(path)
        do throws(Errno) {
            try FileSystem.createDirectory(path)
            // A new folder's own entry must reach the disk too: sync its parent.
            if !existed { try FileSystem.syncDirectory(Self.parent(of: path)) }
        } catch {
            throw .io(path: path, operation: "create folder", error)
        }
        let lockPath = path + "/LOCK"
        let fd: FileDescriptor
        do throws(Errno) { fd = try FileDescriptor.open(lockPath, [.readWrite, .create]) } catch {
            throw .io(path: lockPath, operation: "open", error)
        }
        var locked = false
        // Retry briefly: a lock can outlive its holder for a moment when another thread of this
        // process forks (the child holds a copy of the fd until its exec closes it).
        for attempt in 0..<20 where !locked {
            if attempt > 0 { usleep(50_000) }
            do throws(Errno) { locked = try fd.tryLockExclusive() } catch {
                fd.close()
                throw .io(path: lockPath, operation: "flock", error)
            }
        }
        guard locked else {
            fd.close()
            throw .locked(path: path)
        }
        return fd
    }

    static func parent(of path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
