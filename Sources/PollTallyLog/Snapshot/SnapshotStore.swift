import Dispatch
public import PollTallyCore
import Synchronization

/// The snapshot files of a data folder: naming, listing, atomic writing, loading, pruning.
///
/// ```
/// polltally-data/
///   snapshot-00000000000001000000.snap   every event up to seq 1000000 (20 digits: names sort by seq)
///   snapshot-00000000000002000000.snap
///   snapshot-00000000000002000000.snap.tmp   being written (never read; removed at start)
/// ```
/// A file is written to a `.tmp` name, fsynced, renamed into place and the folder fsynced, so a
/// snapshot name either does not exist or holds a complete file; the CRC32C inside catches the rest.
public struct SnapshotStore: Sendable {
    /// The data folder.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// One snapshot file.
    public struct File: Sendable, Equatable {
        /// The snapshot's seq, from the file name.
        public var seq: UInt64
        public var path: String
    }

    static let prefix = "snapshot-"
    static let suffix = ".snap"
    static let temporarySuffix = ".tmp"

    /// `snapshot-<seq, 20 zero-padded digits>.snap`.
    public static func fileName(seq: UInt64) -> String {
        let digits = String(seq)
        return prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The seq in a snapshot file name, or nil if `name` is not one.
    public static func seq(ofFileNamed name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.utf8.count == prefix.utf8.count + 20 + suffix.utf8.count else { return nil }
        let digits = name.utf8.dropFirst(prefix.utf8.count).prefix(20)
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    /// The snapshot files, oldest (lowest seq) first. An absent folder has none.
    public func files() throws(SnapshotError) -> [File] {
        guard FileSystem.exists(path) else { return [] }
        let names: [String]
        do throws(Errno) { names = try FileSystem.contents(of: path) } catch { throw .io(path: path, operation: "list", error) }
        return names.compactMap { name in
            Self.seq(ofFileNamed: name).map { File(seq: $0, path: path + "/" + name) }
        }.sorted { $0.seq < $1.seq }
    }

    /// Maps and decodes `file`, its sections in parallel (one core each).
    public func load(_ file: File) throws(SnapshotError) -> Snapshot {
        let mapped: MappedFile
        do throws(Errno) { mapped = try MappedFile.map(file.path) } catch {
            throw .io(path: file.path, operation: "read", error)
        }
        defer { mapped.unmap() }
        let snapshot: Snapshot
        do throws(SnapshotCodec.DecodeError) {
            snapshot = try Self.decodeInParallel(mapped.bytes)
        } catch {
            if case .unsupportedVersion(let version) = error, version >= 1, version < SnapshotCodec.currentVersion {
                throw .olderFormat(path: file.path, version: version)
            }
            throw .damaged(path: file.path, error)
        }
        guard snapshot.seq == file.seq else {
            throw .damaged(path: file.path, .invalid(offset: 16, reason: "the file says seq \(snapshot.seq), its name says \(file.seq)"))
        }
        return snapshot
    }

    /// Decodes every section on a core of its own, then assembles them.
    static func decodeInParallel(_ raw: UnsafeRawBufferPointer) throws(SnapshotCodec.DecodeError) -> Snapshot {
        let layout = try SnapshotCodec.layout(of: raw)
        let count = layout.sections.count
        if count == 1 { return try SnapshotCodec.decode(raw) }
        typealias Decoded = Result<[String: PollState], SnapshotCodec.DecodeError>
        let results = Mutex<[Decoded?]>(Array(repeating: nil, count: count))
        let base = UInt(bitPattern: raw.baseAddress)
        let length = raw.count
        DispatchQueue.concurrentPerform(iterations: count) { index in
            // The buffer outlives this call (concurrentPerform returns only when every iteration has).
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: base), count: length)
            let decoded: Decoded
            do throws(SnapshotCodec.DecodeError) {
                decoded = .success(try SnapshotCodec.decodeSection(index, of: layout, in: bytes))
            } catch {
                decoded = .failure(error)
            }
            results.withLock { $0[index] = decoded }
        }
        var sections: [[String: PollState]] = []
        sections.reserveCapacity(count)
        for decoded in results.withLock({ $0 }) {
            guard let decoded else { throw .invalid(offset: 0, reason: "a section was not decoded") }
            sections.append(try decoded.get())
        }
        return try SnapshotCodec.assemble(layout, sections: sections)
    }

    /// Writes `snapshot` durably under its seq's name: temp file, fsync, rename, folder fsync.
    @discardableResult
    public func write(_ snapshot: Snapshot) throws(SnapshotError) -> File {
        try write(encoded: SnapshotCodec.encode(snapshot), seq: snapshot.seq)
    }

    /// Writes already encoded snapshot bytes durably as the snapshot of `seq`.
    @discardableResult
    public func write(encoded bytes: [UInt8], seq: UInt64) throws(SnapshotError) -> File {
        let final = path + "/" + Self.fileName(seq: seq)
        let temporary = final + Self.temporarySuffix
        do throws(Errno) {
            let fd = try FileDescriptor.open(temporary, [.writeOnly, .create], permissions: 0o600)
            do throws(Errno) {
                try fd.truncate(to: 0)
                try fd.writeAll(bytes)
                try fd.sync()
            } catch {
                fd.close()
                try? FileSystem.remove(temporary)
                throw error
            }
            fd.close()
        } catch {
            throw .io(path: temporary, operation: "write", error)
        }
        do throws(Errno) { try FileSystem.rename(temporary, to: final) } catch {
            try? FileSystem.remove(temporary)
            throw .io(path: final, operation: "rename", error)
        }
        do throws(Errno) { try FileSystem.syncDirectory(path) } catch {
            throw .io(path: path, operation: "fsync folder", error)
        }
        return File(seq: seq, path: final)
    }

    /// Deletes all but the newest `keeping` snapshots; returns what could not be deleted.
    @discardableResult
    public func prune(keeping: Int) -> [SnapshotError] {
        let all: [File]
        do throws(SnapshotError) { all = try files() } catch { return [error] }
        var failures: [SnapshotError] = []
        for file in all.dropLast(keeping) {
            do throws(SnapshotError) { try remove(file) } catch { failures.append(error) }
        }
        if all.count > keeping {
            do throws(Errno) { try FileSystem.syncDirectory(path) } catch {
                failures.append(.io(path: path, operation: "fsync folder", error))
            }
        }
        return failures
    }

    /// Deletes one snapshot file.
    public func remove(_ file: File) throws(SnapshotError) {
        do throws(Errno) { try FileSystem.remove(file.path) } catch {
            throw .io(path: file.path, operation: "delete", error)
        }
    }

    /// Deletes the `.tmp` files a crash in the middle of a write leaves (never read: their
    /// content was not yet synced when the crash came).
    public func removeTemporaryFiles() {
        guard FileSystem.exists(path), let names = try? FileSystem.contents(of: path) else { return }
        for name in names where name.hasSuffix(Self.suffix + Self.temporarySuffix) && name.hasPrefix(Self.prefix) {
            try? FileSystem.remove(path + "/" + name)
        }
    }
}
