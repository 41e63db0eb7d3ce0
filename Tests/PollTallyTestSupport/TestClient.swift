#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Why a `TestClient` call failed.
public struct TestClientError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A small blocking TCP line client over POSIX sockets, for talking to a PollTally server in tests.
///
/// Every read waits with poll(2) up to a deadline, so a missing reply fails the test instead of
/// hanging it. Not thread-safe: one client per thread.
public final class TestClient {
    public let fd: CInt
    private var buffer: [UInt8] = []
    private var start = 0
    public private(set) var sawEOF = false
    private var closed = false

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int) throws {
        let fd = try connectTCP(port: port)
        var one: CInt = 1
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        self.fd = fd
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    // MARK: - Sending

    /// Sends `bytes` with one blocking send(2) call (looping only if the kernel takes part of it).
    public func send(bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestClientError("send: errno \(errno)")
            }
            offset += n
        }
    }

    /// Sends `text` as is.
    public func send(_ text: String) throws { try send(bytes: Array(text.utf8)) }

    /// Sends each line followed by `\n`, all in one write.
    public func send(lines: [String]) throws {
        var bytes: [UInt8] = []
        for line in lines {
            bytes.append(contentsOf: line.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        try send(bytes: bytes)
    }

    /// Closes the sending side (the server then sees end of file).
    public func shutdownWrite() throws {
        guard Glibc.shutdown(fd, Int32(SHUT_WR)) == 0 else { throw TestClientError("shutdown: errno \(errno)") }
    }

    // MARK: - Receiving

    /// The next line (without `\n`), or nil at end of file. Throws if nothing complete arrives within `timeout` seconds.
    public func readLine(timeout: Double = 5) throws -> String? {
        let deadline = Self.now() + timeout
        while true {
            if let line = takeLine() { return line }
            if sawEOF {
                if start < buffer.count { throw TestClientError("connection closed in the middle of a line: \(pendingText)") }
                return nil
            }
            let remaining = deadline - Self.now()
            guard remaining > 0 else { throw TestClientError("timed out after \(timeout) s waiting for a line (have \(buffer.count - start) bytes: \(pendingText))") }
            try fill(timeout: remaining)
        }
    }

    /// The next line; throws at end of file or timeout.
    public func expectLine(timeout: Double = 5) throws -> String {
        guard let line = try readLine(timeout: timeout) else { throw TestClientError("connection closed while a line was expected") }
        return line
    }

    /// The next `count` lines.
    public func readLines(_ count: Int, timeout: Double = 5) throws -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(count)
        let deadline = Self.now() + timeout
        while lines.count < count {
            let left = max(0.001, deadline - Self.now())
            guard let line = try readLine(timeout: left) else {
                throw TestClientError("connection closed after \(lines.count) of \(count) lines")
            }
            lines.append(line)
        }
        return lines
    }

    /// Lines up to and including one equal to `terminator` (e.g. `END`).
    public func readBlock(until terminator: String = "END", timeout: Double = 5) throws -> [String] {
        var lines: [String] = []
        let deadline = Self.now() + timeout
        while true {
            let left = max(0.001, deadline - Self.now())
            let line = try expectLine(timeout: left)
            lines.append(line)
            if line == terminator { return lines }
        }
    }

    /// Sends one request line and returns the first reply line.
    public func request(_ line: String, timeout: Double = 5) throws -> String {
        try send(line + "\n")
        return try expectLine(timeout: timeout)
    }

    /// Sends one request line and returns its block, through `END`.
    public func requestBlock(_ line: String, timeout: Double = 5) throws -> [String] {
        try send(line + "\n")
        return try readBlock(timeout: timeout)
    }

    /// Every line until end of file.
    public func readUntilEOF(timeout: Double = 5) throws -> [String] {
        var lines: [String] = []
        let deadline = Self.now() + timeout
        while true {
            let left = deadline - Self.now()
            guard left > 0 else { throw TestClientError("timed out waiting for end of file after \(lines.count) lines") }
            guard let line = try readLine(timeout: left) else { return lines }
            lines.append(line)
        }
    }

    /// Whatever complete lines arrive within `seconds` (for checking that nothing arrives).
    public func linesArriving(within seconds: Double) throws -> [String] {
        var lines: [String] = []
        let deadline = Self.now() + seconds
        while true {
            if let line = takeLine() { lines.append(line); continue }
            if sawEOF { return lines }
            let left = deadline - Self.now()
            guard left > 0 else { return lines }
            try fill(timeout: left)
        }
    }

    private var pendingText: String {
        String(decoding: buffer[start...].prefix(200), as: UTF8.self)
    }

    private func takeLine() -> String? {
        guard let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: buffer[start..<newline], as: UTF8.self)
        start = newline + 1
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16 {
            buffer.removeFirst(start)
            start = 0
        }
        return line
    }

    /// Waits up to `timeout` for data and reads what is there; sets `sawEOF` on end of file.
    private func fill(timeout: Double) throws {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(max(1, min(timeout * 1000, 60_000)).rounded(.up))
        let ready = poll(&pfd, 1, ms)
        if ready < 0 {
            if errno == EINTR { return }
            throw TestClientError("poll: errno \(errno)")
        }
        guard ready > 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
        } else if n == 0 {
            sawEOF = true
        } else if errno == ECONNRESET {
            sawEOF = true
        } else if errno != EINTR && errno != EAGAIN {
            throw TestClientError("recv: errno \(errno)")
        }
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
