#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Reads a small text file whole with open/read: the Redis script and /proc files.
enum TextFile {
    /// The file's text, at most `limit` bytes of it; nil when it cannot be opened or read.
    static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
