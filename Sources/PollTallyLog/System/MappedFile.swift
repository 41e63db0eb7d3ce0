#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A whole file mapped read-only into memory, its pages read in up front: reading a snapshot of a
/// hundred megabytes this way costs page-table entries, not a copy. Unmapped by `unmap()`.
///
/// The bytes are those of the file when it was mapped; the file must not shrink while mapped (a
/// read past its new end would fault). Snapshot files never do: they are written under a
/// temporary name and renamed into place, and deleting one leaves a mapping intact.
public struct MappedFile: @unchecked Sendable {
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`. The corresponding C functions are `open`, `fstat` and `mmap(PROT_READ,
    /// MAP_PRIVATE | MAP_POPULATE)`.
    public static func map(_ path: String) throws(Errno) -> MappedFile {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { fd.close() }
        let size = Int(try fd.size())
        guard size > 0 else { return MappedFile(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.rawValue, 0), address != MAP_FAILED else {
            throw Errno.current
        }
        return MappedFile(bytes: UnsafeRawBufferPointer(start: address, count: size))
    }

    /// Releases the mapping; `bytes` must not be used afterwards. The corresponding C function is `munmap`.
    public func unmap() {
        guard let base = bytes.baseAddress else { return }
        _ = munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
    }
}
