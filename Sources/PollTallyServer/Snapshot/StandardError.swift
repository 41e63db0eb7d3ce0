#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Writes whole lines to stderr with write(2): the default place the server reports damage found
/// while it runs (`ServerConfig.warn`).
public enum StandardError {
    /// Writes `text` and a newline.
    @Sendable
    public static func line(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(2, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
