import PollTallyCore
@testable import PollTallyServer
import Testing

/// `TallyBoard`: the durable tallies that reads show, and what each batch of durable effects changed.
@Suite("Tally board")
struct TallyBoardTests {
    /// Each poll of these tests has its own place, as in one shard's projection.
    static let places = ["p": 0, "q": 1, "zeta": 2, "alpha": 3, "nope": 4]

    static func created(_ poll: String, seq: UInt64) -> PendingEffect {
        PendingEffect(seq: seq, place: places[poll] ?? 99, poll: poll, effect: .created(Tally(poll: poll, options: ["a", "b"], question: "", seq: seq)))
    }

    static func vote(_ poll: String, seq: UInt64, from: Int? = nil, to: Int?, place: Int? = nil) -> PendingEffect {
        PendingEffect(seq: seq, place: place ?? places[poll] ?? 99, poll: poll, effect: .voteMoved(from: from, to: to))
    }

    @Test("effects apply in order; each changed tally comes back once, in the order it first changed")
    func changedOnceInFirstChangeOrder() {
        let board = TallyBoard([])
        var places = TallyBoard.Places()
        let first = board.apply([Self.created("p", seq: 1), Self.created("q", seq: 2)][...], places: &places)
        #expect(first.map(\.poll) == ["p", "q"])
        let effects = [
            Self.vote("q", seq: 3, to: 0), Self.vote("p", seq: 4, to: 1), Self.vote("q", seq: 5, to: 1),
            Self.vote("q", seq: 6, from: 1, to: 0), Self.vote("p", seq: 7, from: 1, to: nil),
        ]
        let changed = board.apply(effects[...], places: &places)
        #expect(changed.map(\.poll) == ["q", "p"])
        #expect(changed.map(\.counts) == [[2, 0], [0, 0]])
        #expect(changed.map(\.lastSeq) == [6, 7])
        #expect(board.tally("q")?.counts == [2, 0])
        #expect(board.tally("p")?.lastSeq == 7)
        #expect(board.apply([Self.vote("p", seq: 8, to: 0)][...], places: &places).map(\.poll) == ["p"], "a later batch reports again")
    }

    @Test("a returned tally is a copy: later effects do not change it")
    func returnedTalliesAreCopies() {
        let board = TallyBoard([Tally(poll: "p", options: ["a", "b"], question: "", seq: 1)])
        var places = TallyBoard.Places()
        let before = board.apply([Self.vote("p", seq: 2, to: 0)][...], places: &places)
        _ = board.apply([Self.vote("p", seq: 3, to: 0)][...], places: &places)
        #expect(before.first?.counts == [1, 0])
        #expect(board.tally("p")?.counts == [2, 0])
    }

    @Test("an effect for a poll the board does not hold is skipped; reads list every poll in id order")
    func unknownPollAndOrder() {
        let board = TallyBoard([Tally(poll: "zeta", options: ["a"], question: "", seq: 1), Tally(poll: "alpha", options: ["a"], question: "", seq: 2)])
        var places = TallyBoard.Places()
        #expect(board.apply([Self.vote("nope", seq: 3, to: 0), Self.vote("alpha", seq: 4, to: 0)][...], places: &places).map(\.poll) == ["alpha"])
        #expect(board.tally("nope") == nil)
        #expect(board.count == 2)
        #expect(board.all().map(\.poll) == ["alpha", "zeta"])
        #expect(board.all().map(\.counts) == [[1], [0]])
    }

    @Test("each shard's places are its own: a poll is found by id the first time, by its place after")
    func placesPerShard() {
        let board = TallyBoard([Tally(poll: "p", options: ["a", "b"], question: "", seq: 1), Tally(poll: "q", options: ["a", "b"], question: "", seq: 2)])
        // Two shards that hold p and q at place 0 each.
        var first = TallyBoard.Places(), second = TallyBoard.Places()
        _ = board.apply([Self.vote("p", seq: 3, to: 0, place: 0)][...], places: &first)
        _ = board.apply([Self.vote("q", seq: 4, to: 1, place: 0)][...], places: &second)
        // Once found, the place decides: the id is no longer looked up.
        _ = board.apply([Self.vote("p", seq: 5, to: 0, place: 0)][...], places: &first)
        _ = board.apply([Self.vote("p", seq: 6, to: 1, place: 0)][...], places: &second)
        #expect(board.tally("p")?.counts == [2, 0])
        #expect(board.tally("q")?.counts == [0, 2])
        #expect(board.tally("q")?.lastSeq == 6)
        // A poll created on the board takes its place at once.
        var third = TallyBoard.Places()
        _ = board.apply([Self.created("r", seq: 7), Self.vote("r", seq: 8, to: 1, place: 99)][...], places: &third)
        #expect(board.tally("r")?.counts == [0, 1])
    }

    @Test("when nobody wants the changes, none are copied out, yet the board moves")
    func nothingReportedWhenUnwanted() {
        let board = TallyBoard([Tally(poll: "p", options: ["a", "b"], question: "", seq: 1)])
        var places = TallyBoard.Places()
        var asked = 0
        let changed = board.apply([Self.vote("p", seq: 2, to: 0)][...], places: &places) {
            asked += 1
            return false
        }
        #expect(changed.isEmpty)
        #expect(asked == 1)
        #expect(board.tally("p")?.counts == [1, 0])
        #expect(board.apply([Self.vote("p", seq: 3, to: 1)][...], places: &places) { true }.map(\.counts) == [[1, 1]])
    }
}
