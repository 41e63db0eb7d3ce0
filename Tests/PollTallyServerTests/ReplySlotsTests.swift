@testable import PollTallyServer
import Testing

/// `ReplySlots`: replies leave in request order, and the replies of a read split over several
/// shards wait for each other, but never for a later read.
@Suite("Reply slots")
struct ReplySlotsTests {
    /// Pops every reply that is due, as a flush would, and returns their texts.
    static func popAll(_ slots: inout ReplySlots) -> [String] {
        var texts: [String] = []
        while let slot = slots.popHead() {
            if case .ready(let text) = slot { texts.append(text) }
        }
        return texts
    }

    @Test func repliesLeaveInRequestOrderWhateverOrderTheyAreFilledIn() {
        var slots = ReplySlots()
        let numbers = (0..<3).map { _ in slots.append(.pending) }
        #expect(numbers == [0, 1, 2])
        slots.fill(2, with: "c")
        slots.fill(1, with: "b")
        #expect(!slots.headIsDue)
        #expect(Self.popAll(&slots).isEmpty)
        slots.fill(0, with: "a")
        #expect(Self.popAll(&slots) == ["a", "b", "c"])
        #expect(slots.isEmpty)
    }

    @Test func theHeadOfASplitReadWaitsUntilTheRestOfTheReadIsAnswered() {
        var slots = ReplySlots()
        for _ in 0..<4 { _ = slots.append(.pending) }
        slots.markSplitRead(0..<4)
        // One shard answered slots 0 and 2, the other has not answered 1 and 3 yet.
        slots.fill(0, with: "a")
        slots.fill(2, with: "c")
        #expect(slots.headIsDue)
        #expect(slots.headWaitsForItsRead)
        slots.fill(1, with: "b")
        #expect(slots.headWaitsForItsRead)
        slots.fill(3, with: "d")
        #expect(!slots.headWaitsForItsRead)
        #expect(Self.popAll(&slots) == ["a", "b", "c", "d"])
    }

    @Test func aReplyNeverWaitsForALaterRead() {
        var slots = ReplySlots()
        // Read 1: slots 0–1, one shard. Read 2: slots 2–3, split.
        for _ in 0..<4 { _ = slots.append(.pending) }
        slots.markSplitRead(2..<4)
        slots.fill(0, with: "a")
        slots.fill(1, with: "b")
        #expect(!slots.headWaitsForItsRead)
        #expect(Self.popAll(&slots) == ["a", "b"])
        // Now the head is read 2's first slot.
        slots.fill(2, with: "c")
        #expect(slots.headWaitsForItsRead)
        slots.fill(3, with: "d")
        #expect(!slots.headWaitsForItsRead)
        #expect(Self.popAll(&slots) == ["c", "d"])
    }

    @Test func aSplitReadWaitsOnlyForItsOwnSlotsNotForTheNextSplitRead() {
        var slots = ReplySlots()
        for _ in 0..<4 { _ = slots.append(.pending) }
        slots.markSplitRead(0..<2)
        slots.markSplitRead(2..<4)
        slots.fill(0, with: "a")
        slots.fill(1, with: "b")
        slots.fill(3, with: "d")
        #expect(!slots.headWaitsForItsRead)
        #expect(Self.popAll(&slots) == ["a", "b"])
        #expect(!slots.headWaitsForItsRead, "head 2 is pending: nothing is due, so nothing waits")
        slots.fill(2, with: "c")
        #expect(Self.popAll(&slots) == ["c", "d"])
    }

    @Test func slotNumbersKeepCountingAfterTheSlotsEmpty() {
        var slots = ReplySlots()
        _ = slots.append(.ready("a"))
        #expect(Self.popAll(&slots) == ["a"])
        let next = slots.append(.pending)
        #expect(next == 1)
        _ = slots.append(.pending)
        slots.markSplitRead(1..<3)
        slots.fill(1, with: "b")
        #expect(slots.headWaitsForItsRead)
        slots.fill(2, with: "c")
        #expect(Self.popAll(&slots) == ["b", "c"])
    }
}

extension ReplySlotsTests {
    /// A client that always has a split read in flight never lets the slots empty. Each reply
    /// leaves as soon as its own read is answered, and the reads already sent are let go, or the
    /// connection would grow without bound.
    @Test func aLongPipelineOfSplitReadsNeitherStallsNorGrows() {
        var slots = ReplySlots()
        var sent: [String] = []
        for read in 0..<1_000 {
            let first = slots.append(.pending)
            let second = slots.append(.pending)
            slots.markSplitRead(first..<(second + 1))
            // One shard answers the previous read's second half, the other this read's first half.
            if read > 0 { slots.fill(first - 1, with: "r\(read - 1)b") }
            slots.fill(first, with: "r\(read)a")
            // The head is the previous read's second reply, and that read is complete; only the
            // very first read has nothing before it, so its head waits for its second half.
            #expect(slots.headWaitsForItsRead == (read == 0), "read \(read)")
            sent += Self.popAll(&slots)
            #expect(slots.count == 1, "read \(read): only its second reply is left")
        }
        #expect(sent.count == 1_999)
        #expect(sent.suffix(2) == ["r998b", "r999a"])
        let held = Mirror(reflecting: slots).children.first { $0.label == "splitReads" }?.value as? [Range<Int>]
        #expect((held?.count ?? .max) < 200, "reads already sent are dropped")
    }
}
