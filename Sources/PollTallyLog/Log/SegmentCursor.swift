import PollTallyCore

/// The segment being appended to: its descriptor, path and size.
///
/// A reference type confined to the log writer's thread after start-up (hence `@unchecked Sendable`).
final class SegmentCursor: @unchecked Sendable {
    private(set) var fd: FileDescriptor
    private(set) var path: String
    var size: Int64

    init(fd: FileDescriptor, path: String, size: Int64) {
        self.fd = fd
        self.path = path
        self.size = size
    }

    func replace(with other: SegmentCursor) {
        fd = other.fd
        path = other.path
        size = other.size
    }

    /// Creates a new segment starting at `firstSeq`: header written and synced, folder synced.
    static func create(directory: LogDirectory, firstSeq: UInt64) throws(LogError) -> SegmentCursor {
        let path = directory.segmentPath(firstSeq: firstSeq)
        do throws(Errno) {
            let fd = try FileDescriptor.open(path, [.writeOnly, .create, .append], permissions: 0o600)
            do throws(Errno) {
                try fd.truncate(to: 0)
                try fd.writeAll(LogFileHeader(firstSeq: firstSeq).encoded)
                try fd.sync()
                try FileSystem.syncDirectory(directory.path)
            } catch {
                fd.close()
                throw error
            }
            return SegmentCursor(fd: fd, path: path, size: Int64(LogFileHeader.size))
        } catch {
            throw .io(path: path, operation: "create segment", error)
        }
    }

    /// Opens an existing segment for appending, cut to `validLength` (its verified part).
    static func reopen(_ segment: LogDirectory.Segment, validLength: Int64) throws(LogError) -> SegmentCursor {
        do throws(Errno) {
            let fd = try FileDescriptor.open(segment.path, [.writeOnly, .append])
            do throws(Errno) {
                if try fd.size() != validLength {
                    try fd.truncate(to: validLength)
                    try fd.sync()
                }
            } catch {
                fd.close()
                throw error
            }
            return SegmentCursor(fd: fd, path: segment.path, size: validLength)
        } catch {
            throw .io(path: segment.path, operation: "open for append", error)
        }
    }
}
