import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("PollPartition")
struct PollPartitionTests {
    /// FNV-1a 64 over `bytes`, written out here as the server's shard router had it.
    static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The shard the server gave `poll` among `count` before the change.
    static func reference(_ poll: String, count: Int) -> Int {
        Int(fnv1a(poll.utf8) % UInt64(count))
    }

    static let counts = Array(1...17) + [31, 32, 64, 100, 1000, 65_537, Int(Int32.max)]

    static func ids(_ total: Int) -> [String] {
        var rng = SplitMix64(seed: 99)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@")
        var ids = ["a", "lunch", "p0", "p1", "poll-1", String(repeating: "z", count: 64), "Z", "@", "0"]
        while ids.count < total {
            ids.append(String((0..<Int.random(in: 1...64, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
        }
        return ids
    }

    @Test("the reference FNV-1a gives the published test vectors")
    func referenceVectors() {
        #expect(Self.fnv1a([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(Self.fnv1a("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(Self.fnv1a("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test("index(of:count:) is FNV-1a 64 of the id's UTF-8 mod count, for many ids and counts")
    func matchesReference() {
        var spread = Array(repeating: 0, count: 7)
        for id in Self.ids(3000) {
            for count in Self.counts {
                let expected = Self.reference(id, count: count)
                #expect(PollPartition.index(of: id, count: count) == expected, "\(id) among \(count)")
                #expect(PollPartition.index(of: Array(id.utf8), count: count) == expected)
                #expect(Array(id.utf8).withUnsafeBytes { PollPartition.index(of: $0, count: count) } == expected)
            }
            spread[PollPartition.index(of: id, count: 7)] += 1
        }
        // A stable hash, not a constant: 3000 ids fill every one of 7 partitions.
        #expect(spread.allSatisfy { $0 > 300 }, "\(spread)")
        // Non-ASCII strings hash their UTF-8, as the router did.
        for text in ["é", "naïve", "✓✓", "日本"] {
            #expect(PollPartition.index(of: text, count: 1000) == Self.reference(text, count: 1000))
        }
    }

    @Test("index(ofRecord:) routes every kind of event as index(of:) routes its poll")
    func recordRouting() {
        var rng = SplitMix64(seed: 5)
        var nonzero = 0
        for (number, poll) in Self.ids(400).enumerated() {
            let bodies: [EventBody] = [
                .pollCreated(poll: poll, options: ["a", "b"], question: "Which? ✓"),
                .voteCast(poll: poll, voter: "v\(number)", option: "a"),
                .voteRetracted(poll: poll, voter: "v\(number)"),
                .pollClosed(poll: poll),
            ]
            for body in bodies {
                let payload = encoded(Event(seq: UInt64.random(in: 1...UInt64.max, using: &rng), timestampMs: -1, body: body))
                for count in [1, 2, 3, 7, 8, 16, 1000] {
                    let routed = payload.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: count) }
                    #expect(routed == PollPartition.index(of: poll, count: count), "\(body) among \(count)")
                    #expect(routed == Self.reference(poll, count: count))
                    if routed != 0 { nonzero += 1 }
                }
            }
        }
        #expect(nonzero > 5000)
    }

    @Test("a payload too short to hold its poll id goes to projection 0")
    func tooShort() {
        // A poll that does not route to 0 among 7, so the fallback is seen.
        let poll = Self.ids(400).first { PollPartition.index(of: $0, count: 7) != 0 && $0.utf8.count > 3 }!
        let payload = encoded(Event(seq: 3, timestampMs: 0, body: .voteCast(poll: poll, voter: "v", option: "a")))
        let pollEnd = EventView.headSize + 1 + poll.utf8.count
        #expect(payload.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: 7) } != 0)
        for length in 0..<pollEnd {
            let prefix = Array(payload.prefix(length))
            #expect(prefix.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: 7) } == 0, "length \(length)")
        }
        // Just long enough: the poll id is all there.
        let exact = Array(payload.prefix(pollEnd))
        #expect(exact.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: 7) } == PollPartition.index(of: poll, count: 7))
        // A length byte claiming more than the payload holds.
        var claim = payload
        claim[EventView.headSize] = UInt8(payload.count)
        #expect(claim.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: 7) } == 0)
        // One projection: always 0.
        #expect(payload.withUnsafeBytes { PollPartition.index(ofRecord: $0, count: 1) } == 0)
    }
}
