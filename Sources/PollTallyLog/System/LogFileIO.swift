/// The syscalls the log writer makes, behind a protocol so a test can swap in one that fails on
/// the Nth call (a failing write, a failing fdatasync, a full disk).
///
/// Production code always uses `SystemLogFileIO`.
public protocol LogFileIO: Sendable {
    /// Writes all of `bytes` at byte `offset` of `fd` (where the segment's records end).
    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno)
    /// Flushes `fd`'s data to stable storage.
    func dataSync(_ fd: FileDescriptor) throws(Errno)
    /// Writes `count` zero bytes at `offset` of `fd`: the room the writer keeps ahead of its
    /// records (`SegmentCursor.reservedLength`). Its failures cost only that room. The default writes them.
    func writeZeros(_ count: Int, to fd: FileDescriptor, at offset: Int64) throws(Errno)
}

/// The real syscalls.
public struct SystemLogFileIO: LogFileIO {
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        try fd.writeAll(bytes, at: offset)
    }
    public func dataSync(_ fd: FileDescriptor) throws(Errno) { try fd.dataSync() }
}

extension LogFileIO {
    public func writeZeros(_ count: Int, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        try fd.writeAll([UInt8](repeating: 0, count: count), at: offset)
    }

    /// Writes all of `bytes` at byte `offset` of `fd`.
    func write(_ bytes: [UInt8], to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        let result: Result<Void, Errno> = bytes.withUnsafeBytes { raw in
            do throws(Errno) { try write(raw, to: fd, at: offset); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}
