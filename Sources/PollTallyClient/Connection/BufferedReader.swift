/// Reads lines and exact byte counts from a socket through one buffer: the setup and verification
/// connections, where convenience matters more than speed. The socket is closed by its owner.
final class BufferedReader {
    let socket: TCPSocket
    private var buffer: [UInt8] = []
    private var start = 0
    private let chunk: UnsafeMutableRawBufferPointer

    /// The longest line accepted: a misbehaving peer cannot make the bench buffer without end.
    static let maxLine = 1 << 20

    init(socket: TCPSocket) {
        self.socket = socket
        chunk = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit { chunk.deallocate() }

    /// The next line, without its `\n` or `\r\n`.
    func line() throws(ClientError) -> [UInt8] {
        var scanned = 0  // bytes after `start` known to hold no newline
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let line = Array(buffer[start..<end])
                start = newline + 1
                return line
            }
            scanned = buffer.count - start
            guard scanned <= Self.maxLine else {
                throw ClientError("the server sent a line longer than \(Self.maxLine) bytes")
            }
            try fill()
        }
    }

    /// Exactly `count` bytes.
    func bytes(_ count: Int) throws(ClientError) -> [UInt8] {
        while buffer.count - start < count { try fill() }
        let bytes = Array(buffer[start..<start + count])
        start += count
        return bytes
    }

    private func fill() throws(ClientError) {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        let n = try socket.read(into: chunk)
        guard n > 0 else { throw ClientError("the server closed the connection") }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
    }
}
