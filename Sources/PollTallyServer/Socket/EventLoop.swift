import CEventPoll
import Foundation
import PollTallyLog
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What a registered socket is ready for.
struct Readiness: OptionSet, Sendable {
    let rawValue: UInt32
    static let readable = Readiness(rawValue: UInt32(POLLTALLY_EV_IN))
    static let writable = Readiness(rawValue: UInt32(POLLTALLY_EV_OUT))
    /// The peer reset the connection or both directions are shut: nothing more can be read or sent.
    static let failed = Readiness(rawValue: UInt32(POLLTALLY_EV_ERR) | UInt32(POLLTALLY_EV_HUP))
}

/// Told by its `EventLoop` what its socket is ready for, on the loop's thread.
protocol EventLoopHandler: AnyObject, Sendable {
    func ready(_ readiness: Readiness)
}

/// One thread waiting in `epoll_wait` for the sockets registered with it, calling each ready one's
/// handler in turn on that same thread.
///
/// Why not Dispatch sources: on Linux each readiness of a `DispatchSourceRead` costs a wake-up of
/// Dispatch's manager thread, a hand-off to a worker thread, an `ioctl(FIONREAD)` and an
/// `epoll_ctl` to re-arm it (counted with strace: about 7 futex calls per read event). Here one
/// `epoll_wait` returns every ready socket, interest is level-triggered and changed only when a
/// connection starts or stops reading or writing, and the handler runs where the wait returned.
///
/// Registrations are keyed by a token that is never reused, so an event still in hand for a
/// socket that was closed meanwhile (and whose fd number a new connection may already hold) finds
/// no handler, or the old, closed one. `afterEvents` runs after each round of handlers, before the
/// next wait: the place to finish work the round left, once for all its sockets.
final class EventLoop: Sendable {
    private let epoll: CInt
    private let wakeRead: CInt
    private let wakeWrite: CInt
    /// Token → handler. A lock, not an actor: the loop looks handlers up once per round, and
    /// connections register from their own queues.
    private let handlers = Mutex<[UInt64: any EventLoopHandler]>([:])
    private let nextToken = Atomic<UInt64>(1)
    private let stopping = Atomic<Bool>(false)
    private let phase = Mutex(Phase.idle)
    private let stopped = DispatchSemaphore(value: 0)
    private let afterEvents: @Sendable () -> Void
    /// Work the round's handlers left for its end (`atRoundEnd`). Only the loop's own thread
    /// touches it; a `Mutex` because the loop is `Sendable`, and it is never contended.
    private let roundEnd = Mutex<[@Sendable () -> Void]>([])
    private let name: String

    private enum Phase { case idle, running, stopping, stopped }

    init(name: String, afterEvents: @escaping @Sendable () -> Void = {}) throws(Errno) {
        let epoll = polltally_epoll_create()
        guard epoll >= 0 else { throw .current }
        var pipeEnds: [CInt] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let error = Errno.current
            Glibc.close(epoll)
            throw error
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        self.epoll = epoll
        self.wakeRead = pipeEnds[0]
        self.wakeWrite = pipeEnds[1]
        self.afterEvents = afterEvents
        self.name = name
        guard polltally_epoll_add(epoll, wakeRead, UInt32(POLLTALLY_EV_IN), 0) == 0 else {
            let error = Errno.current
            for fd in [epoll, wakeRead, wakeWrite] { Glibc.close(fd) }
            throw error
        }
    }

    /// The fds live as long as the loop, so no call made after its thread left can reach an fd
    /// number that something else has reused.
    deinit {
        for fd in [epoll, wakeRead, wakeWrite] { Glibc.close(fd) }
    }

    /// Starts the loop's thread (once).
    func start() {
        let starting = phase.withLock { phase in
            guard phase == .idle else { return false }
            phase = .running
            return true
        }
        guard starting else { return }
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Runs `work` on the loop's thread once every handler of the current round has run, before
    /// the next wait, outside every connection's queue. Only from a handler of this loop.
    func atRoundEnd(_ work: @escaping @Sendable () -> Void) {
        roundEnd.withLock { $0.append(work) }
    }

    /// Registers `fd` with interest in `readiness`; returns the token for `update` and `remove`.
    func register(fd: CInt, interest: Readiness, handler: any EventLoopHandler) throws(Errno) -> UInt64 {
        let token = nextToken.add(1, ordering: .relaxed).oldValue
        handlers.withLock { $0[token] = handler }
        guard polltally_epoll_add(epoll, fd, interest.rawValue, token) == 0 else {
            let error = Errno.current
            handlers.withLock { _ = $0.removeValue(forKey: token) }
            throw error
        }
        return token
    }

    /// Changes what `fd` is watched for (empty: nothing but errors).
    func update(fd: CInt, token: UInt64, interest: Readiness) {
        _ = polltally_epoll_modify(epoll, fd, interest.rawValue, token)
    }

    /// Stops watching `fd`; call before closing it. A round already in progress may still call
    /// the handler once.
    func remove(fd: CInt, token: UInt64) {
        _ = polltally_epoll_remove(epoll, fd)
        handlers.withLock { _ = $0.removeValue(forKey: token) }
    }

    /// Stops the thread and returns once it has left its last round (at once if it never
    /// started). Not from the loop's own thread (a handler or `afterEvents`): it would wait for itself.
    func stop() {
        let wait: Bool = phase.withLock { phase in
            switch phase {
            case .idle:
                phase = .stopped
                return false
            case .running:
                phase = .stopping
                stopping.store(true, ordering: .releasing)
                var byte: UInt8 = 1
                _ = Glibc.write(wakeWrite, &byte, 1)
                return true
            case .stopping:
                return true
            case .stopped:
                return false
            }
        }
        guard wait else { return }
        // Pass the signal on, so that every caller waiting here returns.
        stopped.wait()
        stopped.signal()
    }

    private func run() {
        let capacity = 256
        let ready = UnsafeMutablePointer<polltally_ready>.allocate(capacity: capacity)
        defer { ready.deallocate() }
        var round: [(any EventLoopHandler, Readiness)] = []
        round.reserveCapacity(capacity)
        while !stopping.load(ordering: .acquiring) {
            let count = polltally_epoll_wait(epoll, ready, CInt(capacity), -1)
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            handlers.withLock { handlers in
                for i in 0..<Int(count) where ready[i].token != 0 {
                    if let handler = handlers[ready[i].token] { round.append((handler, Readiness(rawValue: ready[i].events))) }
                }
            }
            for (handler, readiness) in round { handler.ready(readiness) }
            round.removeAll(keepingCapacity: true)
            let left = roundEnd.withLock { work in
                defer { work.removeAll(keepingCapacity: true) }
                return work
            }
            for work in left { work() }
            afterEvents()
        }
        phase.withLock { $0 = .stopped }
        stopped.signal()
    }
}
