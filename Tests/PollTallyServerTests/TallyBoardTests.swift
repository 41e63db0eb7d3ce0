import PollTallyCore
@testable import PollTallyServer
import Testing

/// `TallyBoard`: the durable tallies that reads show, and what each batch of durable effects changed.
@Suite("Tally board")
struct TallyBoardTests {
    static func created(_ poll: String, seq: UInt64) -> PendingEffect {
        PendingEffect(seq: seq, poll: poll, effect: .created(Tally(poll: poll, options: ["a", "b"], question: "", seq: seq)))
    }

    static func vote(_ poll: String, seq: UInt64, from: Int? = nil, to: Int?) -> PendingEffect {
        PendingEffect(seq: seq, poll: poll, effect: .voteMoved(from: from, to: to))
    }

    @Test("effects apply in order; each changed tally comes back once, in the order it first changed")
    func changedOnceInFirstChangeOrder() {
        let board = TallyBoard([])
        let first = board.apply([Self.created("p", seq: 1), Self.created("q", seq: 2)][...])
        #expect(first.map(\.poll) == ["p", "q"])
        let effects = [
            Self.vote("q", seq: 3, to: 0), Self.vote("p", seq: 4, to: 1), Self.vote("q", seq: 5, to: 1),
            Self.vote("q", seq: 6, from: 1, to: 0), Self.vote("p", seq: 7, from: 1, to: nil),
        ]
        let changed = board.apply(effects[...])
        #expect(changed.map(\.poll) == ["q", "p"])
        #expect(changed.map(\.counts) == [[2, 0], [0, 0]])
        #expect(changed.map(\.lastSeq) == [6, 7])
        #expect(board.tally("q")?.counts == [2, 0])
        #expect(board.tally("p")?.lastSeq == 7)
        #expect(board.apply([Self.vote("p", seq: 8, to: 0)][...]).map(\.poll) == ["p"], "a later batch reports again")
    }

    @Test("a returned tally is a copy: later effects do not change it")
    func returnedTalliesAreCopies() {
        let board = TallyBoard([Tally(poll: "p", options: ["a", "b"], question: "", seq: 1)])
        let before = board.apply([Self.vote("p", seq: 2, to: 0)][...])
        _ = board.apply([Self.vote("p", seq: 3, to: 0)][...])
        #expect(before.first?.counts == [1, 0])
        #expect(board.tally("p")?.counts == [2, 0])
    }

    @Test("an effect for a poll the board does not hold is skipped; reads list every poll in id order")
    func unknownPollAndOrder() {
        let board = TallyBoard([Tally(poll: "zeta", options: ["a"], question: "", seq: 1), Tally(poll: "alpha", options: ["a"], question: "", seq: 2)])
        #expect(board.apply([Self.vote("nope", seq: 3, to: 0), Self.vote("alpha", seq: 4, to: 0)][...]).map(\.poll) == ["alpha"])
        #expect(board.tally("nope") == nil)
        #expect(board.count == 2)
        #expect(board.all().map(\.poll) == ["alpha", "zeta"])
        #expect(board.all().map(\.counts) == [[1], [0]])
    }
}
