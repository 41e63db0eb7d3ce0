import CEventPoll
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Drives several `LoadConnection`s on one thread, reading whichever epoll says has replies: the
/// bench's default mode, as `redis-benchmark` (one thread) and `memtier_benchmark` (a few) drive
/// their connections.
///
/// Why it matters on one machine: a reply sent to a client thread asleep in `read` makes the
/// sender wake it, and on this VM that wake-up (an IPI to the other vCPU) was a tenth of the
/// server's loop thread at 16 × 16 in the thread-per-connection mode (`perf`: `sock_def_readable`
/// → `_raw_spin_unlock_irqrestore` under `send`). A few client threads that are mostly awake take
/// replies without it, and leave the server's own threads the cores. Either mode keeps `depth`
/// requests in flight on every connection.
struct LoadMultiplexer: Sendable {
    let connections: [LoadConnection]
    /// How long a connection may wait for a reply before the run fails as stalled.
    let timeoutSeconds: Int

    /// Runs every connection to its end (or failure); their results, in the order given.
    func run() -> [ClientResult] {
        var connections = connections
        let epoll = polltally_epoll_create()
        guard epoll >= 0 else {
            let error = ClientError.system("epoll_create1")
            for index in connections.indices { connections[index].fail(error) }
            return connections.map(\.result)
        }
        defer { close(epoll) }
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { readBuffer.deallocate() }
        var ready = [polltally_ready](repeating: polltally_ready(), count: 64)
        // Connections still waiting for replies, each registered with epoll until it ends.
        var active = [Bool](repeating: false, count: connections.count)
        var running = 0
        let start = MonotonicClock.nanoseconds()
        /// Takes a connection that finished or failed out of the wait.
        func end(_ index: Int) {
            guard active[index] else { return }
            active[index] = false
            running -= 1
            _ = polltally_epoll_remove(epoll, connections[index].socket.fd)
        }
        for index in connections.indices where !connections[index].isDone {
            do throws(ClientError) {
                guard polltally_epoll_add(epoll, connections[index].socket.fd, UInt32(POLLTALLY_EV_IN), UInt64(index)) == 0 else {
                    throw .system("epoll_ctl")
                }
                active[index] = true
                running += 1
                try connections[index].refill(now: start)
            } catch {
                connections[index].fail(error)
                end(index)
            }
        }
        while running > 0 {
            let count = ready.withUnsafeMutableBufferPointer { ready in
                polltally_epoll_wait(epoll, ready.baseAddress, Int32(ready.count), Int32(clamping: timeoutSeconds * 1000))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let error = count == 0 ? ClientError("no reply from the server for \(timeoutSeconds) s (stalled?)") : .system("epoll_wait")
                for index in connections.indices where active[index] { connections[index].fail(error) }
                break
            }
            let now = MonotonicClock.nanoseconds()
            for event in ready.prefix(Int(count)) {
                let index = Int(event.token)
                guard active[index] else { continue }
                do throws(ClientError) {
                    let n = try connections[index].socket.read(into: readBuffer)
                    try connections[index].received(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]), now: now)
                    if connections[index].isDone { end(index) } else { try connections[index].refill(now: now) }
                } catch {
                    connections[index].fail(error)
                    end(index)
                }
            }
        }
        return connections.map(\.result)
    }
}
