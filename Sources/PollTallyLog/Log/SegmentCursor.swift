import PollTallyCore

/// The segment being written: its descriptor, its path, where its records end (`size`: the next
/// write goes there) and how long its file is (`length`). The bytes between the two are zeros
/// the writer wrote ahead of itself (`reservedLength`), so that a later write overwrites
/// them instead of growing the file.
///
/// A reference type confined to the log writer's thread after start-up (hence `@unchecked Sendable`).
final class SegmentCursor: @unchecked Sendable {
    private(set) var fd: FileDescriptor
    private(set) var path: String
    var size: Int64
    var length: Int64

    init(fd: FileDescriptor, path: String, size: Int64, length: Int64) {
        self.fd = fd
        self.path = path
        self.size = size
        self.length = max(length, size)
    }

    func replace(with other: SegmentCursor) {
        fd = other.fd
        path = other.path
        size = other.size
        length = other.length
    }

    /// How long a segment's file becomes when a write ends at `end` past its zeros: `end` and then
    /// zeros, as many as the records already written (at least 64 KiB, at most 1 MiB), to a
    /// 4 KiB boundary, never past the segment size (unless `end` is).
    ///
    /// Why zeros ahead: on ext4, an fdatasync after a write that grows the file also commits the
    /// journal (new size, new blocks); one after a write into blocks the file already has and has
    /// synced flushes the data alone, about a third faster on this project's disk (PERFORMANCE.md).
    /// Growing by a fraction of what is there keeps a small log small.
    static func reservedLength(after end: Int64, segmentSize: Int64) -> Int64 {
        let ahead = min(max(end, 64 << 10), 1 << 20)
        let page: Int64 = 4096
        let rounded = (end + ahead + page - 1) / page * page
        return max(end, min(rounded, segmentSize))
    }

    /// Cuts the zeros after the records, once the segment is done (rolled over, or the log closed
    /// cleanly), so that a segment at rest ends with its last record. Best effort and not synced:
    /// zeros after the records are valid anyway, should this be lost or fail.
    func dropZeros() {
        guard length > size else { return }
        do throws(Errno) {
            try fd.truncate(to: size)
            length = size
        } catch {}
    }

    /// Creates a new segment starting at `firstSeq`: header written and synced, folder synced.
    static func create(directory: LogDirectory, firstSeq: UInt64) throws(LogError) -> SegmentCursor {
        let path = directory.segmentPath(firstSeq: firstSeq)
        do throws(Errno) {
            let fd = try FileDescriptor.open(path, [.writeOnly, .create], permissions: 0o600)
            do throws(Errno) {
                try fd.truncate(to: 0)
                try fd.writeAll(LogFileHeader(firstSeq: firstSeq).encoded, at: 0)
                try fd.sync()
                try FileSystem.syncDirectory(directory.path)
            } catch {
                fd.close()
                throw error
            }
            let size = Int64(LogFileHeader.size)
            return SegmentCursor(fd: fd, path: path, size: size, length: size)
        } catch {
            throw .io(path: path, operation: "create segment", error)
        }
    }

    /// Opens an existing segment to go on writing after its first `validLength` bytes (its
    /// verified records). With `keepingZeros` (the scanner found only zeros after them) the rest
    /// of the file stays, as room to write into; otherwise the file is cut to `validLength`.
    static func reopen(_ segment: LogDirectory.Segment, validLength: Int64, keepingZeros: Bool) throws(LogError) -> SegmentCursor {
        do throws(Errno) {
            let fd = try FileDescriptor.open(segment.path, .writeOnly)
            var length: Int64
            do throws(Errno) {
                length = try fd.size()
                if length != validLength && !(keepingZeros && length > validLength) {
                    try fd.truncate(to: validLength)
                    try fd.sync()
                    length = validLength
                }
            } catch {
                fd.close()
                throw error
            }
            return SegmentCursor(fd: fd, path: segment.path, size: validLength, length: length)
        } catch {
            throw .io(path: segment.path, operation: "open for writing", error)
        }
    }
}
