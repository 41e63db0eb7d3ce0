import CPUHints
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A thin, typed wrapper over a file descriptor: each method is one syscall (EINTR retried,
/// short writes looped) and throws `Errno`. Closing is explicit.
public struct FileDescriptor: Sendable, Hashable {
    public let rawValue: CInt

    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// How to open a file.
    public struct OpenOptions: OptionSet, Sendable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }
        public static let readOnly = OpenOptions([])
        public static let writeOnly = OpenOptions(rawValue: O_WRONLY)
        public static let readWrite = OpenOptions(rawValue: O_RDWR)
        public static let create = OpenOptions(rawValue: O_CREAT)
        public static let exclusive = OpenOptions(rawValue: O_EXCL)
        public static let append = OpenOptions(rawValue: O_APPEND)
        public static let directory = OpenOptions(rawValue: O_DIRECTORY)
    }

    /// Opens `path` (always close-on-exec). The corresponding C function is `open`.
    public static func open(_ path: String, _ options: OpenOptions, permissions: UInt32 = 0o600) throws(Errno) -> FileDescriptor {
        let fd = try retryingOnInterrupt { Glibc.open(path, options.rawValue | O_CLOEXEC, mode_t(permissions)) }
        return FileDescriptor(rawValue: fd)
    }

    /// The corresponding C function is `close`. Errors are ignored: the fd is gone either way.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Writes all of `bytes`, looping over short writes. The corresponding C function is `write`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            let base = bytes.baseAddress.map { $0 + offset }
            let n = try retryingOnInterrupt { Glibc.write(rawValue, base, bytes.count - offset) }
            offset += n
        }
    }

    /// Writes all of `bytes` at file offset `offset`, looping over short writes; the descriptor's
    /// own offset does not move. The corresponding C function is `pwrite`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let base = bytes.baseAddress.map { $0 + written }
            let n = try retryingOnInterrupt { Glibc.pwrite(rawValue, base, bytes.count - written, off_t(offset) + off_t(written)) }
            written += n
        }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file. The corresponding C function is `read`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingOnInterrupt { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads the whole file from `offset` to its end. The corresponding C function is `pread`.
    public func readToEnd(from offset: Int64 = 0) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        let count = try readToEnd(into: &bytes, from: offset)
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Reads the whole file from `offset` to its end into the front of `buffer` and returns how
    /// many bytes that is; the bytes after those are left as they were. `buffer` only grows, so
    /// reading file after file into one buffer touches fresh memory (page faults, zeroing) once,
    /// not once a file. The corresponding C function is `pread`.
    public func readToEnd(into buffer: inout [UInt8], from offset: Int64 = 0) throws(Errno) -> Int {
        let size = try self.size()
        guard size > offset else { return 0 }
        let wanted = Int(size - offset)
        if buffer.count < wanted { buffer = Self.freshBuffer(count: wanted) }
        var filled = 0
        let result: Result<Void, Errno> = buffer.withUnsafeMutableBytes { raw in
            while filled < wanted {
                let n: Int
                do throws(Errno) {
                    n = try retryingOnInterrupt { Glibc.pread(rawValue, raw.baseAddress! + filled, wanted - filled, off_t(offset) + off_t(filled)) }
                } catch {
                    return .failure(error)
                }
                if n == 0 { break }
                filled += n
            }
            return .success(())
        }
        try result.get()
        return filled
    }

    /// `count` zero bytes in memory whose pages are asked for in one call (`polltally_populate`),
    /// not a page fault at a time as the zeros are written: a restart reads a segment of tens of
    /// megabytes into one.
    static func freshBuffer(count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                polltally_populate(base, UInt(count))
                base.initialize(repeating: 0, count: count)
            }
            initialized = count
        }
    }

    /// Flushes the file's data (not necessarily its metadata) to stable storage.
    /// The corresponding C function is `fdatasync`. Never retry a failure as if the data were safe.
    public func dataSync() throws(Errno) {
        _ = try retryingOnInterrupt { Glibc.fdatasync(rawValue) }
    }

    /// Flushes data and metadata to stable storage. The corresponding C function is `fsync`.
    public func sync() throws(Errno) {
        _ = try retryingOnInterrupt { Glibc.fsync(rawValue) }
    }

    /// The corresponding C function is `ftruncate`.
    public func truncate(to size: Int64) throws(Errno) {
        _ = try retryingOnInterrupt { Glibc.ftruncate(rawValue, off_t(size)) }
    }

    /// The file's size in bytes. The corresponding C function is `fstat`.
    public func size() throws(Errno) -> Int64 {
        var info = stat()
        _ = try retryingOnInterrupt { fstat(rawValue, &info) }
        return Int64(info.st_size)
    }

    /// Takes an exclusive advisory lock without waiting; false when another process holds it.
    /// The corresponding C function is `flock`.
    public func tryLockExclusive() throws(Errno) -> Bool {
        do throws(Errno) {
            _ = try retryingOnInterrupt { flock(rawValue, LOCK_EX | LOCK_NB) }
            return true
        } catch where error == .wouldBlock {
            return false
        }
    }
}

extension FileDescriptor {
    /// Writes all of `bytes`, looping over short writes. The corresponding C function is `write`.
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        let result: Result<Void, Errno> = bytes.withUnsafeBytes { raw in
            do throws(Errno) { try writeAll(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Writes all of `bytes` at file offset `offset`. The corresponding C function is `pwrite`.
    public func writeAll(_ bytes: [UInt8], at offset: Int64) throws(Errno) {
        let result: Result<Void, Errno> = bytes.withUnsafeBytes { raw in
            do throws(Errno) { try writeAll(raw, at: offset); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}

extension FileDescriptor {
    /// Reads into `buffer[from...]` from file offset `offset`; returns the bytes read (0 at end of
    /// file). The corresponding C function is `pread`.
    public func read(into buffer: inout [UInt8], from start: Int, at offset: Int64) throws(Errno) -> Int {
        let fd = rawValue
        let result: Result<Int, Errno> = buffer.withUnsafeMutableBytes { raw in
            do throws(Errno) {
                let n = try retryingOnInterrupt { pread(fd, raw.baseAddress.map { $0 + start }, raw.count - start, off_t(offset)) }
                return .success(n)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
