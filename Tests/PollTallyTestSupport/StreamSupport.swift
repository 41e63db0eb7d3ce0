import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Splits a byte stream into lines as it arrives, keeping the unfinished last line apart.
public struct LineSplitter {
    private var pending: [UInt8] = []

    public init() {}

    /// The bytes of a line that has not ended yet.
    public var partial: [UInt8] { pending }

    /// Feeds `bytes`; returns the lines they complete (without `\n`).
    public mutating func feed<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return lines
    }
}

extension TestClient {
    /// Reads raw bytes straight from the socket, bypassing the line buffer (use it only on a client
    /// whose `readLine` was never called): calls `onBytes` with each chunk until it returns false,
    /// end of file, or `timeout` seconds. Returns whether end of file (or a reset) was seen.
    @discardableResult
    public func readRaw(timeout: Double, _ onBytes: (ArraySlice<UInt8>) throws -> Bool) throws -> Bool {
        try PollTallyTestSupport.readRaw(fd: fd, timeout: timeout, onBytes)
    }

    /// Sets the socket's receive buffer (SO_RCVBUF), before the server starts sending.
    public func setReceiveBuffer(_ bytes: Int) {
        var value = CInt(bytes)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<CInt>.size))
    }
}

/// Runs `body` on a thread of its own; `wait()` rethrows its error.
public final class Background: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var finished = false
    private var error: (any Error)?

    public init(_ body: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            var failure: (any Error)?
            do { try body() } catch { failure = error }
            lock.lock()
            finished = true
            error = failure
            lock.unlock()
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    public var isFinished: Bool {
        lock.lock()
        defer { lock.unlock() }
        return finished
    }

    /// Waits up to `timeout` seconds for the body to end; rethrows what it threw.
    public func wait(timeout: Double = 60) throws {
        guard done.wait(timeout: .now() + timeout) == .success else { throw TestClientError("background work did not finish within \(timeout) s") }
        done.signal()
        lock.lock()
        let failure = error
        lock.unlock()
        if let failure { throw failure }
    }
}

/// Memory of a process from /proc/<pid>/status, in KiB: the resident set now and its peak.
public func processMemoryKiB(_ pid: Int32) -> (rss: Int, peak: Int)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    func field(_ name: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    }
    guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
    return (rss, peak)
}

/// Sends all of `bytes` on `fd` with blocking send(2) calls (for a thread writing to a socket
/// that another thread reads: pass the client's `fd`).
public func sendAll(fd: CInt, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
        if n < 0 {
            if errno == EINTR { continue }
            throw TestClientError("send: errno \(errno)")
        }
        offset += n
    }
}

/// Reads raw bytes from `fd`: calls `onBytes` with each chunk until it returns false, end of file,
/// or `timeout` seconds. Returns whether end of file (or a reset) was seen.
@discardableResult
public func readRaw(fd: CInt, timeout: Double, _ onBytes: (ArraySlice<UInt8>) throws -> Bool) throws -> Bool {
    let deadline = TestClient.now() + timeout
    var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    while true {
        let left = deadline - TestClient.now()
        guard left > 0 else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(max(1, min(left * 1000, 1000))))
        if ready < 0 {
            if errno == EINTR { continue }
            throw TestClientError("poll: errno \(errno)")
        }
        guard ready > 0 else { continue }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n > 0 {
            if try !onBytes(chunk[0..<n]) { return false }
        } else if n == 0 || errno == ECONNRESET {
            return true
        } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
            throw TestClientError("recv: errno \(errno)")
        }
    }
}

/// Connects to 127.0.0.1:`port` with options set before the handshake: `maxSegment` (TCP_MAXSEG,
/// the MSS this end announces, which also sizes the server's send buffer for the connection) and
/// `receiveBuffer` (SO_RCVBUF). Returns the descriptor; the caller closes it.
public func connectTCP(port: Int, maxSegment: Int? = nil, receiveBuffer: Int? = nil) throws -> CInt {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestClientError("socket: errno \(errno)") }
    if var value = maxSegment.map(CInt.init) {
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_MAXSEG, &value, socklen_t(MemoryLayout<CInt>.size))
    }
    if var value = receiveBuffer.map(CInt.init) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<CInt>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port)).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        let error = errno
        close(fd)
        throw TestClientError("connect to 127.0.0.1:\(port): errno \(error)")
    }
    return fd
}
