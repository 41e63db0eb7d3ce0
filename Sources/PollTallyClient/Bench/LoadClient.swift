/// One load connection, run on its own thread: sends its votes keeping `depth` requests in flight
/// (each batch of replies is answered by one coalesced write of as many new requests), and times each
/// request from its write to the read that brought its reply line.
struct LoadClient: Sendable {
    let socket: TCPSocket
    let votes: [Vote]
    let depth: Int
    let encoder: RequestEncoder
    let successByte: UInt8
    /// The one right reply line (less its `\r`), when the first byte is not enough (a PING's `PONG`).
    let successLine: [UInt8]?

    func run() -> ClientResult {
        var result = ClientResult()
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { readBuffer.deallocate() }
        var sendTimes = [UInt64](repeating: 0, count: depth)
        var output: [UInt8] = []
        output.reserveCapacity(depth * 96)
        var partial: [UInt8] = []  // the start of a reply line cut by a read boundary
        var sent = 0
        do throws(ClientError) {
            var now = MonotonicClock.nanoseconds()
            while result.replies < votes.count {
                while sent < votes.count && sent - result.replies < depth {
                    encoder.encode(votes[sent], into: &output)
                    sendTimes[sent % depth] = now
                    sent += 1
                }
                if !output.isEmpty {
                    try socket.writeAll(output)
                    output.removeAll(keepingCapacity: true)
                }
                let n = try socket.read(into: readBuffer)
                guard n > 0 else {
                    throw ClientError("the server closed the connection after \(result.replies) of \(votes.count) replies")
                }
                now = MonotonicClock.nanoseconds()
                try consume(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]), partial: &partial, sent: sent, sendTimes: sendTimes, now: now, into: &result)
            }
        } catch {
            result.failure = error.message
        }
        return result
    }

    /// Counts and times every complete reply line in `bytes`; keeps an unfinished one in `partial`.
    private func consume(_ bytes: UnsafeRawBufferPointer, partial: inout [UInt8], sent: Int, sendTimes: [UInt64], now: UInt64, into result: inout ClientResult) throws(ClientError) {
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
