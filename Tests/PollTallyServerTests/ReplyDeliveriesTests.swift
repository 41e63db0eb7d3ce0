@testable import PollTallyServer
import Synchronization
import Testing

/// `ReplyDeliveries`: replies collected from several shards reach each connection in one call.
@Suite("Reply deliveries")
struct ReplyDeliveriesTests {
    /// A sink that records each `deliver` call.
    final class RecordingSink: ReplySink {
        let calls = Mutex<[[(slot: Int, text: String)]]>([])
        func deliver(_ replies: [(slot: Int, text: String)]) { calls.withLock { $0.append(replies) } }
    }

    @Test func eachSinkHearsOnceWithEveryReplyAddedForIt() {
        let a = RecordingSink(), b = RecordingSink()
        var deliveries = ReplyDeliveries()
        #expect(deliveries.isEmpty)
        // As two shards would add them: a's replies interleaved with b's.
        deliveries.add(a, slot: 0, text: "OK 1")
        deliveries.add(b, slot: 4, text: "OK 2")
        deliveries.add(a, slot: 2, text: "OK 3")
        deliveries.add(a, slot: 1, text: "ERR no-such-poll x")
        #expect(!deliveries.isEmpty)
        deliveries.deliver()
        let toA = a.calls.withLock { $0 }, toB = b.calls.withLock { $0 }
        #expect(toA.count == 1)
        #expect(toA.first?.map(\.slot) == [0, 2, 1])
        #expect(toA.first?.map(\.text) == ["OK 1", "OK 3", "ERR no-such-poll x"])
        #expect(toB.count == 1)
        #expect(toB.first?.map(\.slot) == [4])
    }
}
