/// One load connection's side of the exchange, without the waiting: keeps `depth` requests in
/// flight (each batch of replies is answered by one coalesced write of as many new requests),
/// and times each request from its write to the read that brought its reply line.
///
/// Driven by `LoadClient` (a thread of its own, blocking in `read`) or by `LoadMultiplexer`
/// (several connections on one thread, woken by epoll): the same requests, checks and timings.
struct LoadConnection {
    let socket: TCPSocket
    let votes: [Vote]
    let depth: Int
    let encoder: RequestEncoder
    let successByte: UInt8
    /// The one right reply line (less its `\r`), when the first byte is not enough (a PING's `PONG`).
    let successLine: [UInt8]?

    private(set) var result = ClientResult()
    private var sendTimes: [UInt64]
    private var output: [UInt8] = []
    /// The start of a reply line cut by a read boundary.
    private var partial: [UInt8] = []
    private var sent = 0

    init(socket: TCPSocket, votes: [Vote], depth: Int, encoder: RequestEncoder, successByte: UInt8, successLine: [UInt8]?) {
        self.socket = socket
        self.votes = votes
        self.depth = depth
        self.encoder = encoder
        self.successByte = successByte
        self.successLine = successLine
        sendTimes = [UInt64](repeating: 0, count: depth)
        output.reserveCapacity(depth * 96)
    }

    /// Every reply has arrived.
    var isDone: Bool { result.replies >= votes.count }

    /// Writes as many new requests as the window has room for, stamped `now`, in one write.
    mutating func refill(now: UInt64) throws(ClientError) {
        while sent < votes.count && sent - result.replies < depth {
            encoder.encode(votes[sent], into: &output)
            sendTimes[sent % depth] = now
            sent += 1
        }
        if !output.isEmpty {
            try socket.writeAll(output)
            output.removeAll(keepingCapacity: true)
        }
    }

    /// Takes what one read brought (`bytes`; empty: the server closed), read at `now`.
    mutating func received(_ bytes: UnsafeRawBufferPointer, now: UInt64) throws(ClientError) {
        guard !bytes.isEmpty else {
            throw ClientError("the server closed the connection after \(result.replies) of \(votes.count) replies")
        }
        var lineStart = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            guard result.replies < sent else {
                throw ClientError("the server sent more reply lines than requests (\(result.replies + 1) for \(sent))")
            }
            let first = partial.first ?? (lineStart < index ? bytes[lineStart] : 0x0A)
            result.latency.record(now &- sendTimes[result.replies % depth])
            result.replies += 1
            var success = first == successByte
            if success, let successLine { success = Self.line(partial, bytes, lineStart, index, is: successLine) }
            if !success {
                result.errors += 1
                if result.errorSamples.count < ClientResult.maxSamples {
                    let line = partial + Array(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]))
                    result.errorSamples.append(String(decoding: line.prefix(200), as: UTF8.self).droppingCarriageReturn())
                }
            }
            partial.removeAll(keepingCapacity: true)
            lineStart = index + 1
        }
        if lineStart < bytes.count {
            partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart...]))
        }
    }

    /// Records why the connection stopped before every reply arrived.
    mutating func fail(_ error: ClientError) {
        result.failure = error.message
    }

    /// Whether the line made of `partial` and `bytes[start..<end]`, less a trailing `\r`, is `expected`.
    @inline(__always)
    static func line(_ partial: [UInt8], _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, is expected: [UInt8]) -> Bool {
        var count = partial.count + end - start
        if count > 0 && (end > start ? bytes[end - 1] : partial[partial.count - 1]) == 0x0D { count -= 1 }
        guard count == expected.count else { return false }
        for offset in 0..<count {
            let byte = offset < partial.count ? partial[offset] : bytes[start + offset - partial.count]
            if byte != expected[offset] { return false }
        }
        return true
    }
}

extension String {
    /// Without a trailing `\r`.
    fileprivate func droppingCarriageReturn() -> String {
        hasSuffix("\r") ? String(dropLast()) : self
    }
}
