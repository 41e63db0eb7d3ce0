import Foundation
import PollTallyLog
@testable import PollTallyServer
import PollTallyTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `EventLoop` and `EventLoopGroup` on their own, with real sockets: level-triggered readiness,
/// interest changes, removal, tokens, peer closes, `afterEvents` and stopping.
///
/// Nothing here measures time. Waits poll a condition for up to 5 s; "no more calls" is checked
/// after `settle`, which returns once the loop has finished a whole round that began after it was
/// called, and again after a pause: the counts must not move at all.
@Suite("Event loop")
struct EventLoopTests {

    // MARK: - Readable

    @Test func readableIsLevelTriggeredUntilTheHandlerReadsEverything() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)
            defer { loop.remove(fd: pair.a, token: token) }

            try settle(loop)
            #expect(handler.count == 0, "nothing written: no call")

            #expect(send(pair.b, "hello") == 5)
            // The handler does not read: called again round after round.
            #expect(eventually { handler.count >= 3 })
            #expect(handler.union == .readable)

            handler.startDraining()
            #expect(eventually { handler.received == Array("hello".utf8) })
            let drained = try quietCount(loop, handler, "everything read: no more calls")
            #expect(handler.emptyDrains == 0, "never called with nothing to read")

            // New data: called again, once more until read.
            #expect(send(pair.b, " again") == 6)
            #expect(eventually { handler.received == Array("hello again".utf8) })
            let again = try quietCount(loop, handler, "read again: no more calls")
            #expect(again > drained)
            #expect(handler.emptyDrains == 0)
            #expect(handler.union == .readable)
        }
    }

    @Test func emptyInterestPausesReadableCallsAndReadableResumesThem() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)
            defer { loop.remove(fd: pair.a, token: token) }

            #expect(send(pair.b, "pending") == 7)
            #expect(eventually { handler.count >= 2 })

            loop.update(fd: pair.a, token: token, interest: [])
            let paused = try quietCount(loop, handler, "no interest: no calls, though data waits")
            #expect(bytesWaiting(pair.a) == 7, "the data is still unread")

            loop.update(fd: pair.a, token: token, interest: .readable)
            #expect(eventually { handler.count >= paused + 2 }, "readable again: called again")
            #expect(handler.union == .readable)
            #expect(handler.last == .readable)
            #expect(bytesWaiting(pair.a) == 7)
        }
    }

    // MARK: - Writable

    @Test func writableIsReportedWhileTheSocketHasBufferSpace() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .writable, handler: handler)
            defer { loop.remove(fd: pair.a, token: token) }

            // An empty send buffer: writable, round after round.
            #expect(eventually { handler.count >= 3 })
            #expect(handler.union == .writable, "nothing to read: only writable")

            // Full: no more writable calls.
            let written = fill(pair.a)
            #expect(written > 0)
            let full = try quietCount(loop, handler, "no buffer space: no writable calls")

            // The peer reads it all: writable again.
            #expect(drain(pair.b) == written)
            #expect(eventually { handler.count >= full + 2 })
            #expect(handler.last == .writable)
            #expect(handler.union == .writable)
        }
    }

    // MARK: - Removal and tokens

    @Test func aRemovedHandlerIsNeverCalledAgainThoughDataWaits() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)

            #expect(send(pair.b, "unread") == 6)
            #expect(eventually { handler.count >= 3 })

            loop.remove(fd: pair.a, token: token)
            let atRemoval = handler.count
            let settled = try quietCount(loop, handler, "removed: never called again")
            // A round already under way may call it once more; no later one may.
            #expect(settled - atRemoval <= 1)
            #expect(bytesWaiting(pair.a) == 6, "the data is still pending")
        }
    }

    @Test func tokensAreNeverReusedEvenForTheSameFdNumber() throws {
        try withLoop { loop in
            let first = try SocketPair()
            defer { first.close() }
            let old = RecordingHandler(fd: first.a)
            let oldToken = try loop.register(fd: first.a, interest: .readable, handler: old)
            loop.remove(fd: first.a, token: oldToken)

            // A new socket under the same fd number: dup2 closes the old socket there atomically,
            // so no other thread can take the number in between.
            let second = try SocketPair()
            defer { second.close() }
            #expect(dup2(second.a, first.a) == first.a)
            second.closeA()
            let new = RecordingHandler(fd: first.a)
            let newToken = try loop.register(fd: first.a, interest: .readable, handler: new)
            defer { loop.remove(fd: first.a, token: newToken) }

            #expect(oldToken != 0, "token 0 is the loop's own wake-up pipe")
            #expect(newToken != 0)
            #expect(newToken != oldToken)

            // Events for the new socket reach the new handler only.
            #expect(send(second.b, "x") == 1)
            #expect(eventually { new.count >= 1 })
            #expect(new.union == .readable)
            #expect(old.count == 0)

            // Many more registrations: all distinct, none 0.
            var tokens: Set<UInt64> = [oldToken, newToken]
            for _ in 0..<50 {
                let pair = try SocketPair()
                let token = try loop.register(fd: pair.a, interest: [], handler: RecordingHandler(fd: pair.a))
                loop.remove(fd: pair.a, token: token)
                pair.close()
                #expect(token != 0)
                tokens.insert(token)
            }
            #expect(tokens.count == 52)
        }
    }

    @Test func registeringABadOrAlreadyRegisteredFdThrows() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let first = RecordingHandler(fd: pair.a)
            let second = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: first)
            defer { loop.remove(fd: pair.a, token: token) }
            #expect(throws: Errno(rawValue: EEXIST)) {
                _ = try loop.register(fd: pair.a, interest: .readable, handler: second)
            }
            #expect(throws: Errno(rawValue: EBADF)) {
                _ = try loop.register(fd: -1, interest: .readable, handler: second)
            }
            #expect(send(pair.b, "y") == 1)
            #expect(eventually { first.count >= 1 })
            #expect(second.count == 0)
        }
    }

    // MARK: - Peer closes

    @Test func aPeerClosingItsEndIsReported() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)

            pair.closeB()
            #expect(eventually { handler.count >= 1 })
            loop.remove(fd: pair.a, token: token)
            let seen = handler.union
            #expect(!seen.isDisjoint(with: [.readable, .failed]), "got \(seen.rawValue)")
            #expect(readOnce(pair.a) == .endOfFile)
        }
    }

    @Test func aPeerClosingIsReportedEvenWithEmptyInterest() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: [], handler: handler)

            try settle(loop)
            #expect(handler.count == 0)
            // Both directions of a Unix stream pair shut when the peer closes: a hang-up, which
            // epoll reports whatever the interest.
            pair.closeB()
            #expect(eventually { handler.count >= 1 })
            loop.remove(fd: pair.a, token: token)
            let seen = handler.union
            #expect(!seen.isDisjoint(with: .failed), "got \(seen.rawValue)")
            #expect(seen.isDisjoint(with: [.readable, .writable]), "got \(seen.rawValue)")
            #expect(readOnce(pair.a) == .endOfFile)
        }
    }

    @Test func aUnixPeerClosingWithUnreadDataResetsTheConnection() throws {
        try withLoop { loop in
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)

            // The peer closes without reading what it was sent: a reset.
            #expect(send(pair.a, "never read") == 10)
            try settle(loop)
            #expect(handler.count == 0)
            pair.closeB()
            #expect(eventually { handler.count >= 1 })
            loop.remove(fd: pair.a, token: token)
            let seen = handler.union
            #expect(!seen.isDisjoint(with: .failed), "got \(seen.rawValue)")
            let result = readOnce(pair.a)
            #expect(result == .failed(ECONNRESET) || result == .endOfFile, "got \(result)")
        }
    }

    @Test func aTCPPeerResettingWithZeroLingerIsReported() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let client = try connectTCP(port: listener.localPort)
        var clientOpen = true
        defer { if clientOpen { close(client) } }
        var accepted: Socket?
        #expect(eventually {
            accepted = try? listener.accept()
            return accepted != nil
        })
        let server = try #require(accepted)
        defer { server.close() }

        try withLoop { loop in
            let handler = RecordingHandler(fd: server.fd)
            let token = try loop.register(fd: server.fd, interest: .readable, handler: handler)
            try settle(loop)
            #expect(handler.count == 0)

            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            #expect(setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)) == 0)
            close(client)
            clientOpen = false

            #expect(eventually { handler.count >= 1 })
            loop.remove(fd: server.fd, token: token)
            let seen = handler.union
            #expect(!seen.isDisjoint(with: .failed), "a reset is a failure; got \(seen.rawValue)")
            let result = readOnce(server.fd)
            #expect(result == .failed(ECONNRESET) || result == .endOfFile, "got \(result)")
        }
    }

    // MARK: - afterEvents

    @Test func afterEventsRunsAfterARoundThatCalledAHandler() throws {
        let pair = try SocketPair()
        defer { pair.close() }
        let handler = RecordingHandler(fd: pair.a, draining: true)
        // Each run of afterEvents notes how many calls the handler had had by then.
        let after = AfterEventsLog(handler: handler)
        let loop = try EventLoop(name: "test-after-events") { after.ran() }
        loop.start()
        defer { stopWithin(loop.stop) }

        // Nothing registered, nothing ready: the loop waits and no round ends.
        usleep(50_000)
        #expect(after.runs.isEmpty, "no event: no round, no afterEvents")

        let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)
        defer { loop.remove(fd: pair.a, token: token) }
        #expect(send(pair.b, "ping") == 4)
        #expect(eventually { handler.received == Array("ping".utf8) })
        // The round that called the handler ends with afterEvents, which sees the call made.
        #expect(eventually { after.runs.contains { $0 >= 1 } })
        #expect(handler.count == 1, "read at once: called once")
        let runs1 = after.runs
        #expect(runs1.first == 1, "the first round was the handler's; got \(runs1)")
        #expect(runs1.allSatisfy { $0 == 1 })
        #expect(handler.afterRunsAtCall == [0], "afterEvents had not run before the handler's round")
    }

    @Test func workLeftForTheRoundEndRunsAfterItsHandlersOnTheLoopThreadBeforeAfterEvents() throws {
        let pair = try SocketPair()
        defer { pair.close() }
        let afterEvents = RunCounter()
        let loop = try EventLoop(name: "test-round-end") { afterEvents.ran() }
        let handler = RoundEndHandler(fd: pair.a, loop: loop, afterEvents: afterEvents)
        loop.start()
        defer { stopWithin(loop.stop) }
        let token = try loop.register(fd: pair.a, interest: .readable, handler: handler)
        defer { loop.remove(fd: pair.a, token: token) }
        #expect(send(pair.b, "go") == 2)
        #expect(eventually { handler.ends.count == 2 })
        let ends = handler.ends
        // Both pieces of work the handler left, in the order left, after the handler returned,
        // on the thread that called it, before that round's afterEvents.
        #expect(ends.map(\.order) == [1, 2])
        #expect(ends.allSatisfy { $0.handlerDone && $0.onHandlerThread && $0.afterEventsBetween == 0 }, "\(ends)")
        // Left once: not run again in later rounds.
        #expect(send(pair.b, "x") == 1)
        #expect(eventually { handler.ends.count == 4 })
        #expect(handler.ends.map(\.order) == [1, 2, 1, 2])
    }

    // MARK: - Stopping and groups

    @Test func stopReturnsAndNoHandlerIsCalledAfterwards() throws {
        let loop = try EventLoop(name: "test-stop")
        loop.start()
        defer { stopWithin(loop.stop) }
        let pair = try SocketPair()
        defer { pair.close() }
        let handler = RecordingHandler(fd: pair.a)
        // Left registered: always writable, so called every round while the loop runs.
        _ = try loop.register(fd: pair.a, interest: .writable, handler: handler)
        #expect(eventually { handler.count >= 3 })

        stopWithin(loop.stop)
        let stopped = handler.count
        usleep(200_000)
        #expect(handler.count == stopped, "the loop's thread has left its last round")

        // A second stop returns at once (and so does the deferred third).
        stopWithin(loop.stop)
    }

    @Test func stopReturnsForALoopThatNeverStarted() throws {
        let loop = try EventLoop(name: "test-never-started")
        stopWithin(loop.stop)
        // Starting after a stop does nothing; stopping again still returns.
        loop.start()
        stopWithin(loop.stop)
        let group = try EventLoopGroup(count: 2)
        stopWithin(group.stop)
    }

    @Test func aGroupHandsOutItsLoopsInTurnAndStops() throws {
        let group = try EventLoopGroup(count: 3)
        group.start()
        defer { stopWithin(group.stop) }
        #expect(group.loops.count == 3)
        #expect(Set(group.loops.map(ObjectIdentifier.init)).count == 3)
        let picked = (0..<7).map { _ in group.next() }
        for (index, loop) in picked.enumerated() {
            #expect(loop === group.loops[index % 3], "pick \(index)")
        }

        // Every loop runs its own registrations.
        for loop in group.loops {
            let pair = try SocketPair()
            defer { pair.close() }
            let handler = RecordingHandler(fd: pair.a)
            let token = try loop.register(fd: pair.a, interest: .writable, handler: handler)
            #expect(eventually { handler.count >= 1 })
            loop.remove(fd: pair.a, token: token)
        }

        let one = try EventLoopGroup(count: 0)
        one.start()
        defer { stopWithin(one.stop) }
        #expect(one.loops.count == 1, "at least one loop")
        #expect(one.next() === one.loops[0])
        #expect(one.next() === one.loops[0])
    }
}

// MARK: - Helpers

/// Records every `ready` call under a lock; once told to, reads its fd dry on each call.
final class RecordingHandler: EventLoopHandler {
    private struct State {
        var count = 0
        var union: Readiness = []
        var last: Readiness = []
        var draining: Bool
        var received: [UInt8] = []
        /// Draining calls that found nothing to read.
        var emptyDrains = 0
        var afterRunsAtCall: [Int] = []
    }

    let fd: CInt
    private let state: Mutex<State>
    /// Set by `AfterEventsLog`, to note how many times afterEvents had run at each call.
    let afterRuns = Atomic<Int>(0)

    init(fd: CInt, draining: Bool = false) {
        self.fd = fd
        self.state = Mutex(State(draining: draining))
    }

    func ready(_ readiness: Readiness) {
        let afterRunsNow = afterRuns.load(ordering: .acquiring)
        let draining = state.withLock { state in
            state.count += 1
            state.union.formUnion(readiness)
            state.last = readiness
            if state.afterRunsAtCall.count < 100 { state.afterRunsAtCall.append(afterRunsNow) }
            return state.draining
        }
        guard draining else { return }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        state.withLock { state in
            if bytes.isEmpty { state.emptyDrains += 1 }
            state.received += bytes
        }
    }

    func startDraining() { state.withLock { $0.draining = true } }

    var count: Int { state.withLock { $0.count } }
    var union: Readiness { state.withLock { $0.union } }
    var last: Readiness { state.withLock { $0.last } }
    var received: [UInt8] { state.withLock { $0.received } }
    var emptyDrains: Int { state.withLock { $0.emptyDrains } }
    var afterRunsAtCall: [Int] { state.withLock { $0.afterRunsAtCall } }
}

/// Counts the runs of a loop's afterEvents.
final class RunCounter: Sendable {
    private let runs = Atomic<Int>(0)
    func ran() { runs.add(1, ordering: .relaxed) }
    var value: Int { runs.load(ordering: .relaxed) }
}

/// Reads its fd dry and leaves two pieces of work for the end of the round; each notes whether
/// it ran after the handler returned, on the handler's thread, and before afterEvents ran again.
final class RoundEndHandler: EventLoopHandler {
    struct End: Sendable {
        var order: Int
        var handlerDone: Bool
        var onHandlerThread: Bool
        var afterEventsBetween: Int
    }

    let fd: CInt
    private let loop: EventLoop
    private let afterEvents: RunCounter
    private let state = Mutex<(ends: [End], inHandler: Bool, thread: UInt)>(([], false, 0))

    init(fd: CInt, loop: EventLoop, afterEvents: RunCounter) {
        self.fd = fd
        self.loop = loop
        self.afterEvents = afterEvents
    }

    func ready(_ readiness: Readiness) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while buffer.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, $0.count) }) > 0 {}
        let me = UInt(bitPattern: Int(pthread_self()))
        let afterEventsAtCall = afterEvents.value
        state.withLock { $0.inHandler = true; $0.thread = me }
        for order in 1...2 {
            loop.atRoundEnd { [self] in
                let now = UInt(bitPattern: Int(pthread_self()))
                let between = afterEvents.value - afterEventsAtCall
                state.withLock { state in
                    state.ends.append(End(order: order, handlerDone: !state.inHandler, onHandlerThread: now == state.thread,
                                          afterEventsBetween: between))
                }
            }
        }
        state.withLock { $0.inHandler = false }
    }

    var ends: [End] { state.withLock { $0.ends } }
}

/// An `afterEvents` hook that notes, at each run, how many calls `handler` had had.
final class AfterEventsLog: Sendable {
    private let handler: RecordingHandler
    private let log = Mutex<[Int]>([])

    init(handler: RecordingHandler) { self.handler = handler }

    func ran() {
        let calls = handler.count
        log.withLock { $0.append(calls) }
        handler.afterRuns.add(1, ordering: .releasing)
    }

    var runs: [Int] { log.withLock { $0 } }
}

/// A non-blocking, close-on-exec Unix stream socket pair; each end closed at most once.
final class SocketPair {
    let a: CInt
    let b: CInt
    private var aOpen = true
    private var bOpen = true

    init() throws {
        var fds: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw Errno.current
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        a = fds[0]
        b = fds[1]
    }

    func closeA() {
        if aOpen { Glibc.close(a) }
        aOpen = false
    }

    func closeB() {
        if bOpen { Glibc.close(b) }
        bOpen = false
    }

    func close() {
        closeA()
        closeB()
    }
}

/// A fresh loop, started for `body` and stopped after it.
private func withLoop<R>(_ body: (EventLoop) throws -> R) throws -> R {
    let loop = try EventLoop(name: "test-event-loop")
    loop.start()
    defer { stopWithin(loop.stop) }
    return try body(loop)
}

/// Runs `stop` on a thread of its own and records an issue if it has not returned within 5 s,
/// so that a loop that never stops fails its test instead of hanging the run.
private func stopWithin(_ stop: @escaping @Sendable () -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    let stopping = Background(stop)
    do {
        try stopping.wait(timeout: 5)
    } catch {
        Issue.record("stop() did not return: \(error)", sourceLocation: sourceLocation)
    }
}

/// Whether `condition` holds within `timeout` seconds, checking every 2 ms.
private func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(Int(timeout * 1000))
    while true {
        if condition() { return true }
        if clock.now >= deadline { return false }
        usleep(2_000)
    }
}

/// Returns once `loop` has finished a whole round that began after this call: a marker socket,
/// always writable, is called in every round, and its second call means the round of its first
/// has ended. Events ready before the call have been handled by then.
private func settle(_ loop: EventLoop) throws {
    let pair = try SocketPair()
    defer { pair.close() }
    let marker = RecordingHandler(fd: pair.a)
    let token = try loop.register(fd: pair.a, interest: .writable, handler: marker)
    defer { loop.remove(fd: pair.a, token: token) }
    #expect(eventually { marker.count >= 2 }, "the loop finished no round")
}

/// The handler's call count once `loop` has settled, checked to stay the same over a pause and
/// another settled round: "no more calls", which a count still moving fails with `comment`.
private func quietCount(_ loop: EventLoop, _ handler: RecordingHandler, _ comment: Comment) throws -> Int {
    try settle(loop)
    let count = handler.count
    usleep(200_000)
    try settle(loop)
    #expect(handler.count == count, comment)
    return count
}

/// Sends `text` on `fd`; the byte count, or -1.
private func send(_ fd: CInt, _ text: String) -> Int {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
}

/// Bytes waiting to be read on `fd`, left there.
private func bytesWaiting(_ fd: CInt) -> Int {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
    return max(n, 0)
}

/// Writes to `fd` until it would block; the byte count.
private func fill(_ fd: CInt) -> Int {
    let chunk = [UInt8](repeating: 0x2A, count: 65_536)
    var total = 0
    while true {
        let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        guard n > 0 else { return total }
        total += n
    }
}

/// Reads `fd` until it would block; the byte count.
private func drain(_ fd: CInt) -> Int {
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var total = 0
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n > 0 else { return total }
        total += n
    }
}

private enum ReadOutcome: Equatable, CustomStringConvertible {
    case bytes(Int)
    case endOfFile
    case failed(CInt)

    var description: String {
        switch self {
        case .bytes(let n): "\(n) bytes"
        case .endOfFile: "end of file"
        case .failed(let code): "errno \(code)"
        }
    }
}

/// One non-blocking read of `fd`.
private func readOnce(_ fd: CInt) -> ReadOutcome {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
    if n > 0 { return .bytes(n) }
    if n == 0 { return .endOfFile }
    return .failed(errno)
}
