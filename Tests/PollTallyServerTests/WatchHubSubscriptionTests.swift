import PollTallyCore
@testable import PollTallyServer
import Testing

/// `WatchHub.hasWatchers`: what lets shards skip copying changed tallies out when nobody watches.
@Suite("WatchHub: whether anyone watches")
struct WatchHubSubscriptionTests {
    final class Subscriber: WatchSubscriber {
        let id: Int
        init(id: Int) { self.id = id }
        func offer(_ updates: [WatchUpdate]) {}
    }

    @Test("hasWatchers follows WATCH, WATCH * and UNWATCH of every subscriber")
    func followsSubscriptions() {
        let hub = WatchHub(interval: .seconds(3600))
        defer { hub.stop() }
        let one = Subscriber(id: 1), two = Subscriber(id: 2)
        #expect(!hub.hasWatchers)
        hub.watch(one, polls: ["p", "q"])
        #expect(hub.hasWatchers)
        hub.unwatch(one, polls: ["p"])
        #expect(hub.hasWatchers, "q is still watched")
        hub.watchEveryPoll(two)
        hub.unwatch(one, polls: nil)
        #expect(hub.hasWatchers, "two watches every poll")
        hub.unwatch(two, polls: nil)
        #expect(!hub.hasWatchers)
        hub.watch(two, polls: ["p"])
        hub.unwatch(two, polls: ["p"])
        #expect(!hub.hasWatchers)
    }
}
