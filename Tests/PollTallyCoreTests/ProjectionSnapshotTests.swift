import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("Projection after a snapshot: the covered-event rule")
struct ProjectionSnapshotTests {
    static let create = Event(seq: 1, timestampMs: 0, body: .pollCreated(poll: "p", options: ["a", "b"], question: ""))

    @Test("an event is covered when its poll has seen that seq or a later one")
    func covers() throws {
        var projection = Projection()
        try projection.apply(Self.create)
        try projection.apply(Event(seq: 5, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a")))
        #expect(projection.covers(Event(seq: 5, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a"))))
        #expect(projection.covers(Event(seq: 3, timestampMs: 0, body: .voteCast(poll: "p", voter: "w", option: "b"))))
        #expect(!projection.covers(Event(seq: 6, timestampMs: 0, body: .voteCast(poll: "p", voter: "w", option: "b"))))
        // A poll the state does not hold: never covered, its creation included.
        #expect(!projection.covers(Event(seq: 2, timestampMs: 0, body: .pollCreated(poll: "q", options: ["a", "b"], question: ""))))
    }

    @Test("applyUnlessCovered skips covered events without checking them, applies the rest")
    func applyUnlessCovered() throws {
        var projection = Projection()
        try projection.apply(Self.create)
        try projection.apply(Event(seq: 4, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a")))
        // Seq 4 again would break a rule (the same vote twice) but is covered: skipped.
        let repeated = Event(seq: 4, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a"))
        #expect(try projection.applyUnlessCovered(repeated) == nil)
        #expect(projection.tally("p")?.counts == [1, 0])
        let move = Event(seq: 7, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "b"))
        #expect(try projection.applyUnlessCovered(move) == .voteMoved(from: 0, to: 1))
        #expect(projection.tally("p")?.counts == [0, 1])
        #expect(projection.tally("p")?.lastSeq == 7)
        // An uncovered event that breaks a rule still throws.
        #expect(throws: TallyRule.noSuchPoll("nope")) {
            try projection.applyUnlessCovered(Event(seq: 8, timestampMs: 0, body: .pollClosed(poll: "nope")))
        }
    }

    /// The property the restart relies on: a snapshot cut at per-shard watermarks, plus the log
    /// after its seq with covered events skipped, is exactly the full replay. For every history,
    /// every cut, through the codec.
    @Test("snapshot at any cut + the log after it, covered events skipped == full replay")
    func cutPlusTailEqualsReplay() throws {
        var rng = SplitMix64(seed: 2024)
        for seed in UInt64(1)...40 {
            let events = try randomHistory(seed: seed, events: 300)
            let full = try replayed(events)
            for _ in 0..<10 {
                let shards = Int.random(in: 1...4, using: &rng)
                let watermarks = (0..<shards).map { _ in UInt64.random(in: 0...UInt64(events.count), using: &rng) }
                let snapshot = try SnapshotCodec.decode(SnapshotCodec.encode(try cutSnapshot(events, watermarks: watermarks)))
                var projection = restored(snapshot)
                for event in events where event.seq > snapshot.seq { try projection.applyUnlessCovered(event) }
                #expect(projection.polls == full.polls, "seed \(seed), watermarks \(watermarks)")
            }
        }
    }

    /// Without the rule, the events between the lowest and highest watermark would be applied twice.
    @Test("applying the log after the snapshot's seq without the rule goes wrong")
    func withoutTheRule() throws {
        var wrong = 0
        for seed in UInt64(1)...10 {
            let events = try randomHistory(seed: seed, events: 300)
            let full = try replayed(events)
            for watermarks: [UInt64] in [[150, 280], [280, 150]] {
                var projection = restored(try cutSnapshot(events, watermarks: watermarks))
                var refused = 0
                for event in events where event.seq > 150 {
                    do throws(TallyRule) { try projection.apply(event) } catch { refused += 1 }
                }
                if refused > 0 || projection.polls != full.polls { wrong += 1 }
            }
        }
        #expect(wrong > 0)
    }

    @Test("restoring keeps the limits and the polls")
    func restoring() throws {
        let events = try randomHistory(seed: 9, events: 100)
        let full = try replayed(events)
        let projection = Projection(limits: .init(maxOptions: 7), restoring: full.polls)
        #expect(projection.limits.maxOptions == 7)
        #expect(projection.tallies == full.tallies)
    }
}
