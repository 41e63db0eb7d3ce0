@testable import PollTallyServer
import PollTallyTestSupport
import Testing

/// `TailHub`: who is woken when the log's head moves, and who counts as a tail.
@Suite("TailHub")
struct TailHubTests {
    final class Recorder: TailSubscriber {
        let id: Int
        let wakes = Locked(0)
        init(id: Int) { self.id = id }
        func logMoved() { wakes.withLock { $0 += 1 } }
    }

    /// A hub with two tails, both awake.
    static func hubOfTwo() -> (TailHub, Recorder, Recorder) {
        let hub = TailHub()
        let a = Recorder(id: 1), b = Recorder(id: 2)
        hub.add(a)
        hub.add(b)
        return (hub, a, b)
    }

    @Test("a parked tail is not woken but still counts; added again, it is woken again")
    func parking() {
        let (hub, a, b) = Self.hubOfTwo()
        hub.logMoved()
        #expect(a.wakes.withLock { $0 } == 1 && b.wakes.withLock { $0 } == 1)

        hub.park(b)
        hub.logMoved()
        hub.logMoved()
        #expect(a.wakes.withLock { $0 } == 3)
        #expect(b.wakes.withLock { $0 } == 1, "parked: not woken")
        #expect(hub.count == 2, "a parked tail is still a tail (STAT tails)")

        hub.add(b)
        hub.logMoved()
        #expect(b.wakes.withLock { $0 } == 2)
        #expect(hub.count == 2)
    }

    @Test("removing a tail, parked or not, ends it; parking one that is gone does nothing")
    func removal() {
        let (hub, a, b) = Self.hubOfTwo()
        hub.park(b)
        hub.remove(b)
        hub.remove(a)
        #expect(hub.count == 0)
        hub.park(a)
        #expect(hub.count == 0)
        hub.logMoved()
        #expect(a.wakes.withLock { $0 } == 0 && b.wakes.withLock { $0 } == 0)
    }
}
