@testable import PollTallyServer
import Testing

/// `PushGate` on its own: when the hub may write directly, what waits for the connection, and
/// the rule that a watcher is never given a tally older than, or equal to, one it has.
@Suite("Push gate")
struct PushGateTests {
    static func update(_ poll: String, _ seq: UInt64) -> WatchUpdate {
        WatchUpdate(poll: poll, seq: seq, line: Array("UPDATE \(poll) \(seq)\n".utf8))
    }

    static func sent(_ outcome: PushGate.OfferOutcome) -> String? {
        guard case .send(let bytes) = outcome else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isWake(_ outcome: PushGate.OfferOutcome) -> Bool {
        if case .wake = outcome { return true }
        return false
    }

    static func isDone(_ outcome: PushGate.OfferOutcome) -> Bool {
        if case .done = outcome { return true }
        return false
    }

    @Test func closedGateKeepsTheNewestLinePerPollAndWakesOnce() {
        var gate = PushGate()
        gate.watch(["p", "q"])
        #expect(Self.isWake(gate.offer([Self.update("p", 5)])))
        // The wake-up is on its way: no second one.
        #expect(Self.isDone(gate.offer([Self.update("p", 7), Self.update("q", 6)])))
        let taken = gate.takeOrOpen(drained: true)
        #expect(taken.carry == nil)
        #expect(taken.lines.map(\.seq).sorted() == [6, 7])
        gate.wokeUp()
        // Nothing waits now: the gate opens.
        #expect(gate.takeOrOpen(drained: true).lines.isEmpty)
        #expect(gate.open)
    }

    @Test func openGateSendsEveryNewLineAtOnceAndRefusesOldOnes() {
        var gate = PushGate()
        gate.watch(["p", "q"])
        gate.gave([("p", 3), ("q", 3)])
        _ = gate.takeOrOpen(drained: true)
        #expect(gate.open)
        #expect(Self.sent(gate.offer([Self.update("p", 4), Self.update("q", 5)])) == "UPDATE p 4\nUPDATE q 5\n")
        #expect(Self.isDone(gate.offer([Self.update("p", 4)])), "a repeat")
        #expect(Self.isDone(gate.offer([Self.update("q", 2)])), "older than the WATCH reply")
        #expect(Self.isDone(gate.offer([Self.update("r", 9)])), "a poll not watched")
    }

    @Test func aGateOpensOnlyWhenDrainedAndWatching() {
        var gate = PushGate()
        _ = gate.takeOrOpen(drained: true)
        #expect(!gate.open, "nothing watched")
        gate.watch(["p"])
        _ = gate.takeOrOpen(drained: false)
        #expect(!gate.open, "replies or bytes still owed")
        _ = gate.takeOrOpen(drained: true)
        #expect(gate.open)
        #expect(gate.hold() == nil)
        #expect(!gate.open)
    }

    @Test func aShortSendLeavesTheRestForTheConnectionFirst() {
        var gate = PushGate()
        gate.watch(["p"])
        _ = gate.takeOrOpen(drained: true)
        let line = Self.update("p", 2)
        #expect(Self.sent(gate.offer([line])) != nil)
        #expect(Self.isWake(gate.sendFellShort(line.line, sent: 3)))
        #expect(!gate.open)
        // Later lines wait behind it.
        #expect(Self.isDone(gate.offer([Self.update("p", 3)])))
        let carry = gate.hold()
        #expect(carry?.bytes == line.line && carry?.sent == 3)
        #expect(gate.hold() == nil, "handed over once")
        #expect(gate.takeOrOpen(drained: true).lines.map(\.seq) == [3])
    }

    @Test func aWatchReplyDropsWhatItCoversAndKeepsWhatIsNewer() {
        var gate = PushGate()
        gate.watch(["p", "q"])
        _ = gate.offer([Self.update("p", 4), Self.update("q", 9)])
        gate.gave([("p", 5), ("q", 8)])
        #expect(gate.takeOrOpen(drained: false).lines.map(\.seq) == [9])
        #expect(Self.isDone(gate.offer([Self.update("p", 5)])))
    }

    @Test func unwatchDropsHeldLinesExceptUnderWatchStar() {
        var gate = PushGate()
        gate.watch(["p"])
        gate.watchEveryPoll()
        _ = gate.offer([Self.update("p", 4), Self.update("q", 4)])
        gate.unwatch(["p", "q"])
        #expect(gate.isWatching)
        #expect(gate.takeOrOpen(drained: false).lines.count == 2, "WATCH * still covers them")
        gate.unwatch(nil)
        #expect(!gate.isWatching)
        #expect(Self.isDone(gate.offer([Self.update("p", 9)])))
        #expect(gate.takeOrOpen(drained: false).lines.isEmpty)
    }

    @Test func aClosedGateTakesNothing() {
        var gate = PushGate()
        gate.watch(["p"])
        _ = gate.takeOrOpen(drained: true)
        gate.close()
        #expect(!gate.open)
        #expect(Self.isDone(gate.offer([Self.update("p", 9)])))
        _ = gate.takeOrOpen(drained: true)
        #expect(!gate.open)
    }
}
