import PollTallyLog
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Thin typed wrappers over the socket syscalls the server uses. Every fd is non-blocking and
/// close-on-exec; `send` never raises SIGPIPE.
struct Socket: Sendable, Hashable {
    let fd: CInt

    /// The outcome of a non-blocking read or write.
    enum IOResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfFile
    }

    /// A listening TCP socket on `host:port` (IPv4 dotted quad or `localhost`; port 0 picks a free one).
    static func listen(host: String, port: Int, backlog: CInt = SOMAXCONN) throws(SocketError) -> Socket {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else {
            throw SocketError(operation: "parse address \(host)", errno: Errno(rawValue: EINVAL))
        }
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", errno: .current) }
        let socket = Socket(fd: fd)
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let error = Errno.current
            socket.close()
            throw SocketError(operation: "bind \(host):\(port)", errno: error)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = Errno.current
            socket.close()
            throw SocketError(operation: "listen", errno: error)
        }
        return socket
    }

    /// The port this socket is bound to. The corresponding C function is `getsockname`.
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return ok == 0 ? Int(UInt16(bigEndian: address.sin_port)) : 0
    }

    /// Accepts one pending connection, made non-blocking, close-on-exec, with TCP_NODELAY.
    /// Returns nil when none is pending. The corresponding C function is `accept`.
    func accept() throws(Errno) -> Socket? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                var one: CInt = 1
                setsockopt(client, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
                return Socket(fd: client)
            }
            let error = Errno.current
            switch error.rawValue {
            case EINTR, ECONNABORTED: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw error
            }
        }
    }

    /// The corresponding C function is `read`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfFile }
            let error = Errno.current
            switch error.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw error
            }
        }
    }

    /// The corresponding C function is `send`, with MSG_NOSIGNAL so a gone peer is an error, not a signal.
    func send(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> IOResult {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            let error = Errno.current
            switch error.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw error
            }
        }
    }

    /// Sends `line` if the socket takes it at once (best effort), then closes.
    func refuse(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
        close()
    }

    /// The corresponding C function is `close`.
    func close() {
        _ = Glibc.close(fd)
    }
}
