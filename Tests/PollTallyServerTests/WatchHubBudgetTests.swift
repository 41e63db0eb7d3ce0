import PollTallyCore
@testable import PollTallyServer
import Synchronization
import Testing

/// The hub's CPU budget: after a tick that took `d` to write, no tick writes for `9 d`, so
/// fan-out to many watchers takes at most a tenth of a core. Driven with a fake clock that only
/// the subscribers move (each offer "costs" 1 ms), so nothing here depends on real time.
@Suite("WatchHub: fan-out budget")
struct WatchHubBudgetTests {
    /// Uptime the test controls.
    final class FakeClock: Sendable {
        let nanos = Atomic<UInt64>(0)
        func advance(by delta: UInt64) { nanos.add(delta, ordering: .relaxed) }
        func set(_ value: UInt64) { nanos.store(value, ordering: .relaxed) }
        var value: UInt64 { nanos.load(ordering: .relaxed) }
    }

    /// A watcher whose every offer costs 1 ms of fake time, recording the seqs it was offered.
    final class CostlySubscriber: WatchSubscriber {
        let id: Int
        let clock: FakeClock
        let seqs = Mutex<[UInt64]>([])
        init(id: Int, clock: FakeClock) {
            self.id = id
            self.clock = clock
        }
        func offer(_ updates: [WatchUpdate]) {
            seqs.withLock { $0.append(contentsOf: updates.map(\.seq)) }
            clock.advance(by: 1_000_000)
        }
    }

    static func tally(seq: UInt64) -> Tally {
        Tally(poll: "p", options: ["a", "b"], question: "", seq: seq)
    }

    @Test("a tick that took 10 ms is followed by 90 ms without writes; the next one carries the newest tally")
    func quietAfterAnExpensiveTick() {
        let clock = FakeClock()
        // An interval of an hour: the hub's own timer never fires during the test.
        let hub = WatchHub(interval: .seconds(3600), now: { clock.value })
        defer { hub.stop() }
        let watchers = (0..<10).map { CostlySubscriber(id: $0, clock: clock) }
        for watcher in watchers { hub.watch(watcher, polls: ["p"]) }

        hub.published([Self.tally(seq: 1)])
        hub.tick()                                   // t = 0 → 10 ms: 10 offers of 1 ms each
        #expect(watchers.allSatisfy { $0.seqs.withLock { $0 } == [1] })
        #expect(clock.value == 10_000_000)

        hub.published([Self.tally(seq: 2)])
        clock.set(50_000_000)
        hub.tick()                                   // within the quiet time: nothing written
        clock.set(99_000_000)
        hub.tick()
        #expect(watchers.allSatisfy { $0.seqs.withLock { $0 } == [1] })

        hub.published([Self.tally(seq: 3)])
        clock.set(100_000_000)
        hub.tick()                                   // quiet time over: the newest tally, once
        #expect(watchers.allSatisfy { $0.seqs.withLock { $0 } == [1, 3] })
    }

    @Test("cheap ticks are never held back")
    func cheapTicksKeepTime() {
        let clock = FakeClock()
        let hub = WatchHub(interval: .seconds(3600), now: { clock.value })
        defer { hub.stop() }
        let watcher = CostlySubscriber(id: 1, clock: clock)
        hub.watch(watcher, polls: ["p"])
        // One watcher: a tick costs 1 ms, so 9 ms later the next may write.
        for seq in UInt64(1)...5 {
            hub.published([Self.tally(seq: seq)])
            clock.set((seq - 1) * 10_000_000)
            hub.tick()
        }
        #expect(watcher.seqs.withLock { $0 } == [1, 2, 3, 4, 5])
    }
}
