/// Drives one `LoadConnection` on a thread of its own, blocking in each read: the bench's
/// thread-per-connection mode (`--client-threads 0`).
struct LoadClient: Sendable {
    let connection: LoadConnection

    func run() -> ClientResult {
        var connection = connection
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { readBuffer.deallocate() }
        do throws(ClientError) {
            var now = MonotonicClock.nanoseconds()
            while !connection.isDone {
                try connection.refill(now: now)
                let n = try connection.socket.read(into: readBuffer)
                now = MonotonicClock.nanoseconds()
                try connection.received(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]), now: now)
            }
        } catch {
            connection.fail(error)
        }
        return connection.result
    }
}
