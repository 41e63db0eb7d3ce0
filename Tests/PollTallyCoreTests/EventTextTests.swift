import Testing
@testable import PollTallyCore

@Suite("EventText")
struct EventTextTests {
    @Test("each kind renders as the command that made it", arguments: [
        (Event(seq: 3, timestampMs: 1_700_000_000_000, body: .voteCast(poll: "lunch", voter: "alice", option: "pizza")),
         "EVENT 3 1700000000000 VOTE lunch alice pizza"),
        (Event(seq: 1, timestampMs: 1_700_000_000_000,
               body: .pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?")),
         "EVENT 1 1700000000000 CREATE lunch pizza,sushi Where shall we eat?"),
        (Event(seq: 1, timestampMs: 5, body: .pollCreated(poll: "lunch", options: ["pizza", "sushi", "tacos"], question: "")),
         "EVENT 1 5 CREATE lunch pizza,sushi,tacos"),
        (Event(seq: 9, timestampMs: 1_700_000_000_123, body: .voteRetracted(poll: "lunch", voter: "bob")),
         "EVENT 9 1700000000123 UNVOTE lunch bob"),
        (Event(seq: 10, timestampMs: 1_700_000_000_124, body: .pollClosed(poll: "lunch")),
         "EVENT 10 1700000000124 CLOSE lunch"),
        (Event(seq: 2, timestampMs: 0, body: .pollCreated(poll: "q", options: ["si", "no"], question: "¿Qué?")),
         "EVENT 2 0 CREATE q si,no ¿Qué?"),
        (Event(seq: .max, timestampMs: -1, body: .pollClosed(poll: "x")),
         "EVENT 18446744073709551615 -1 CLOSE x"),
    ] as [(Event, String)])
    func line(_ event: Event, _ expected: String) {
        #expect(EventText.line(event) == expected)
    }

    @Test("command has no EVENT prefix")
    func command() {
        #expect(EventText.command(.voteCast(poll: "lunch", voter: "alice", option: "pizza")) == "VOTE lunch alice pizza")
        #expect(EventText.command(.pollCreated(poll: "p", options: ["a", "b"], question: "")) == "CREATE p a,b")
        #expect(EventText.command(.pollCreated(poll: "p", options: ["a", "b"], question: "Why?")) == "CREATE p a,b Why?")
        #expect(EventText.command(.voteRetracted(poll: "p", voter: "v")) == "UNVOTE p v")
        #expect(EventText.command(.pollClosed(poll: "p")) == "CLOSE p")
    }

    @Test("a command's text parses back to the same command", arguments: [
        EventBody.pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?"),
        .pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: ""),
        .pollCreated(poll: "q", options: ["a", "b", "c"], question: "¿Qué?"),
        .voteCast(poll: "lunch", voter: "alice", option: "pizza"),
        .voteRetracted(poll: "lunch", voter: "alice"),
        .pollClosed(poll: "lunch"),
    ])
    func parsesBack(_ body: EventBody) {
        let request = RequestParser().parse(EventText.command(body))
        #expect(request == .success(.command(body)))
    }
}
