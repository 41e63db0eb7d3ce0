import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import Testing

/// `TailStream`: the resume seq named by `ERR slow-consumer` and the rendering of EVENT lines.
@Suite("TailStream")
struct TailStreamTests {
    static func bytes(_ text: String) -> ArraySlice<UInt8> { ArraySlice(Array(text.utf8)) }

    static func resume(sent: String, unsent: String, next: UInt64 = 99) -> UInt64 {
        TailStream.resumeSeq(sentTail: bytes(sent), unsent: bytes(unsent), next: next)
    }

    static let e5 = "EVENT 5 1700000000005 VOTE p v5 a\n"
    static let e6 = "EVENT 6 1700000000006 VOTE p v6 b\n"
    static let e7 = "EVENT 7 1700000000007 UNVOTE p v5\n"

    @Test("nothing unsent: resume from the cursor's next seq")
    func nothingUnsent() {
        #expect(Self.resume(sent: Self.e5 + Self.e6, unsent: "", next: 7) == 7)
        #expect(Self.resume(sent: "", unsent: "", next: 1) == 1)
    }

    @Test("sent up to a line boundary: resume from the first unsent line")
    func lineBoundary() {
        #expect(Self.resume(sent: Self.e5, unsent: Self.e6 + Self.e7) == 6)
        #expect(Self.resume(sent: "", unsent: Self.e5 + Self.e6) == 5)
    }

    @Test("a line cut anywhere is resent whole: resume from the line in progress", arguments: Array(1..<34))
    func cutInsideALine(_ cut: Int) {
        // e6 is 34 bytes including its newline; cut it after `cut` bytes.
        let line = Array(Self.e6.utf8)
        #expect(line.count == 34)
        let sent = Array(Self.e5.utf8) + line[..<cut]
        let unsent = Array(line[cut...]) + Array(Self.e7.utf8)
        #expect(TailStream.resumeSeq(sentTail: ArraySlice(sent), unsent: ArraySlice(unsent), next: 99) == 6)
    }

    @Test("the seq's digits split between sent and unsent are read whole")
    func splitDigits() {
        #expect(Self.resume(sent: Self.e5 + "EVENT 1", unsent: "23 1700000000123 VOTE p v a\n" + Self.e7) == 123)
        #expect(Self.resume(sent: "EVENT 12", unsent: "345 1700000000000 CLOSE p\n") == 12345)
    }

    @Test("non-EVENT lines (LIVE, the OK reply) are skipped")
    func skipsOtherLines() {
        #expect(Self.resume(sent: Self.e5, unsent: "LIVE 5\n" + Self.e6) == 6)
        #expect(Self.resume(sent: Self.e5 + "LI", unsent: "VE 5\n" + Self.e6) == 6)
        #expect(Self.resume(sent: "", unsent: "OK tailing from 5\n" + Self.e5) == 5)
        #expect(Self.resume(sent: Self.e5, unsent: "LIVE 5\n", next: 6) == 6)
    }

    @Test("an unfinished EVENT line at the end of the unsent bytes counts")
    func unfinishedLastLine() {
        #expect(Self.resume(sent: Self.e5, unsent: "EVENT 6 17000") == 6)
        #expect(Self.resume(sent: Self.e5 + "EVENT 6 1", unsent: "7000") == 6)
    }

    @Test("the sent tail without a newline is the start of the line in progress")
    func sentTailWithoutNewline() {
        #expect(Self.resume(sent: "EVENT 6 1700000", unsent: "000006 VOTE p v6 b\n" + Self.e7) == 6)
    }

    @Test("EVENT without digits, or a look-alike prefix, is not an event line")
    func lookAlikes() {
        #expect(Self.resume(sent: "", unsent: "EVENT \nEVENTS 4 x\nEVENT x 1 y\n" + Self.e7) == 7)
        #expect(Self.resume(sent: "", unsent: "ERR slow-consumer resume with TAIL FROM 3\n", next: 8) == 8)
    }

    @Test("render writes EVENT lines as dump does, filtered by poll")
    func render() {
        let events = [
            Event(seq: 1, timestampMs: 1_700_000_000_001, body: .pollCreated(poll: "p", options: ["a", "b"], question: "Q?")),
            Event(seq: 2, timestampMs: 1_700_000_000_002, body: .pollCreated(poll: "q", options: ["x", "y"], question: "")),
            Event(seq: 3, timestampMs: 1_700_000_000_003, body: .voteCast(poll: "p", voter: "v", option: "a")),
            Event(seq: 4, timestampMs: 1_700_000_000_004, body: .voteRetracted(poll: "q", voter: "w")),
            Event(seq: 5, timestampMs: 1_700_000_000_005, body: .pollClosed(poll: "p")),
        ]
        let cursor = LogCursor(directory: LogDirectory(path: "/nonexistent"), fromSeq: 1)
        let all = TailStream(cursor: cursor, poll: nil).render(events)
        #expect(String(decoding: all, as: UTF8.self) == events.map { EventText.line($0) + "\n" }.joined())
        let onlyP = TailStream(cursor: cursor, poll: "p").render(events)
        #expect(String(decoding: onlyP, as: UTF8.self) == [events[0], events[2], events[4]].map { EventText.line($0) + "\n" }.joined())
        #expect(TailStream(cursor: cursor, poll: "zzz").render(events).isEmpty)
        #expect(TailStream(cursor: cursor, poll: nil).render([]).isEmpty)
    }
}
