#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A blocking IPv4 TCP connection with TCP_NODELAY and send/receive timeouts, over plain POSIX calls.
/// A value holding the fd; whoever made it closes it.
struct TCPSocket: Sendable {
    let fd: CInt
    let timeoutSeconds: Int

    /// Connects to `host:port` (IPv4 dotted quad or `localhost`). A read or write waiting longer than
    /// `timeoutSeconds` fails, so a stalled server ends the bench instead of hanging it (0: wait forever).
    static func connect(host: String, port: Int, timeoutSeconds: Int) throws(ClientError) -> TCPSocket {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else {
            throw ClientError("bad host '\(host)': give an IPv4 address such as 127.0.0.1, or localhost")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = ClientError.system("connect to \(host):\(port)")
            Glibc.close(fd)
            throw error
        }
        var one: CInt = 1
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return TCPSocket(fd: fd, timeoutSeconds: timeoutSeconds)
    }

    /// Writes every byte of `bytes`, retrying short writes and EINTR.
    func writeAll(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw ClientError("the server took no bytes for \(timeoutSeconds) s (stalled?)")
            }
            throw .system("send")
        }
    }

    /// Reads what is available into `buffer`, waiting for at least one byte; 0 means the server closed.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ClientError) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw ClientError("no reply from the server for \(timeoutSeconds) s (stalled?)")
            }
            throw .system("recv")
        }
    }

    /// Ends both directions, waking a thread blocked on this socket; the fd stays open until `close`.
    func shutdown() { _ = Glibc.shutdown(fd, CInt(SHUT_RDWR)) }

    func close() { Glibc.close(fd) }
}
