import Foundation
import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
import PollTallyTestSupport
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

    /// A one-segment log of `events` in a fresh folder, written as the log writer lays it out.
    static func log(_ events: [Event]) throws -> String {
        let folder = makeTemporaryFolder("polltally-tailstream")
        var bytes = LogFileHeader(firstSeq: 1).encoded
        for event in events { RecordFrame.append(event, to: &bytes) }
        try Data(bytes).write(to: URL(fileURLWithPath: LogDirectory(path: folder).segmentPath(firstSeq: 1)))
        return folder
    }

    /// Everything `readLines` gives, chunk after chunk, until the cursor stops moving.
    static func lines(_ folder: String, poll: String?, through limit: UInt64 = .max) throws -> String {
        let stream = TailStream(cursor: LogCursor(directory: LogDirectory(path: folder), fromSeq: 1), poll: poll)
        var all: [UInt8] = []
        while true {
            let before = stream.cursor.nextSeq
            all += try stream.readLines(through: limit)
            if stream.cursor.nextSeq == before { break }
        }
        return String(decoding: all, as: UTF8.self)
    }

    @Test("readLines writes EVENT lines as dump does, from the records' bytes, filtered by poll")
    func readLines() throws {
        let events = [
            Event(seq: 1, timestampMs: 1_700_000_000_001, body: .pollCreated(poll: "p", options: ["a", "b"], question: "Q?")),
            Event(seq: 2, timestampMs: 1_700_000_000_002, body: .pollCreated(poll: "q", options: ["x", "y"], question: "")),
            Event(seq: 3, timestampMs: 1_700_000_000_003, body: .voteCast(poll: "p", voter: "v", option: "a")),
            Event(seq: 4, timestampMs: 0, body: .voteRetracted(poll: "q", voter: "w")),
            Event(seq: 5, timestampMs: -12, body: .pollClosed(poll: "p")),
            Event(seq: 6, timestampMs: .max, body: .voteCast(poll: "q", voter: String(repeating: "z", count: 64), option: "y")),
        ]
        let folder = try Self.log(events)
        defer { removeTemporaryFolder(folder) }
        #expect(try Self.lines(folder, poll: nil) == events.map { EventText.line($0) + "\n" }.joined())
        #expect(try Self.lines(folder, poll: "p") == [events[0], events[2], events[4]].map { EventText.line($0) + "\n" }.joined())
        #expect(try Self.lines(folder, poll: "zzz").isEmpty)
        #expect(try Self.lines(folder, poll: nil, through: 3) == events.prefix(3).map { EventText.line($0) + "\n" }.joined())
    }

    @Test("readLines of many events matches dump's rendering, chunk after chunk", arguments: [UInt64(1), 77])
    func readLinesInChunks(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var events = [Event(seq: 1, timestampMs: 1_700_000_000_000, body: .pollCreated(poll: "p", options: ["a", "b", "c"], question: "Which?"))]
        for seq in 2...20_000 {
            let voter = "v\(Int.random(in: 0..<5_000, using: &rng))"
            let body: EventBody = Int.random(in: 0..<10, using: &rng) == 0
                ? .voteRetracted(poll: "p", voter: voter)
                : .voteCast(poll: "p", voter: voter, option: ["a", "b", "c"][Int.random(in: 0..<3, using: &rng)])
            events.append(Event(seq: UInt64(seq), timestampMs: 1_700_000_000_000 + Int64(seq), body: body))
        }
        let folder = try Self.log(events)
        defer { removeTemporaryFolder(folder) }
        #expect(try Self.lines(folder, poll: nil) == events.map { EventText.line($0) + "\n" }.joined())
    }
}
