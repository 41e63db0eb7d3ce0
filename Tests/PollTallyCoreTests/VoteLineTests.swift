import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("VoteLine")
struct VoteLineTests {
    /// What `VoteLine` reads from `line`, as the three ids; nil when it declines the line.
    static func ids(_ line: [UInt8]) -> [String]? {
        line.withUnsafeBytes { raw in
            VoteLine(raw).map { vote in
                [vote.poll, vote.voter, vote.option].map { String(decoding: raw[$0], as: UTF8.self) }
            }
        }
    }

    /// What `RequestParser` reads from `line`, when it is a vote.
    static func parsedVote(_ line: [UInt8]) -> [String]? {
        guard case .success(.command(.voteCast(let poll, let voter, let option))) = RequestParser().parse(line) else { return nil }
        return [poll, voter, option]
    }

    @Test("reads the three ids of a well-formed VOTE, in any case and spacing", arguments: [
        ("VOTE lunch alice pizza", ["lunch", "alice", "pizza"]),
        ("vote lunch alice pizza", ["lunch", "alice", "pizza"]),
        ("VoTe p v o", ["p", "v", "o"]),
        ("  VOTE\tp  \t v\t\to  ", ["p", "v", "o"]),
        ("VOTE a.b:c@d e_f-g 9", ["a.b:c@d", "e_f-g", "9"]),
        ("VOTE \(String(repeating: "x", count: 64)) v o", [String(repeating: "x", count: 64), "v", "o"]),
    ])
    func reads(_ line: String, _ expected: [String]) {
        #expect(Self.ids(Array(line.utf8)) == expected)
        #expect(Self.parsedVote(Array(line.utf8)) == expected)
    }

    @Test("declines everything else, so that RequestParser words the error", arguments: [
        "", "   ", "VOTE", "VOTE p", "VOTE p v", "VOTE p v o extra", "VOTES p v o", "VOT p v o", "UNVOTE p v",
        "VOTE p v o,", "VOTE p! v o", "VOTE p v\u{00E9} o", "VOTE \(String(repeating: "x", count: 65)) v o",
        "PING", "VOTE\u{0B}p v o", "xVOTE p v o", "VOTE p v o\r",
    ])
    func declines(_ line: String) {
        #expect(Self.ids(Array(line.utf8)) == nil)
        #expect(Self.parsedVote(Array(line.utf8)) == nil)
    }

    @Test("agrees with RequestParser on random lines near a vote")
    func agreesWithTheParser() {
        var rng = SplitMix64(seed: 2026)
        let pieces: [[UInt8]] = ["VOTE", "vote", "VoTe", "VOTEX", "p", "poll_1", "v", "voter.9", "o", "opt-2", "a@b:c",
                                 String(repeating: "z", count: 64), String(repeating: "z", count: 65), "é", "!", ",", "*"]
            .map { Array($0.utf8) }
        let gaps: [[UInt8]] = [[0x20], [0x09], [0x20, 0x20], [0x09, 0x20], [], [0x0B], [0x0D]]
        var accepted = 0
        for _ in 0..<20_000 {
            // Mostly a verb and three ids, each part now and then replaced by anything at all.
            func pick(_ likely: Range<Int>) -> [UInt8] {
                pieces[rng.next() % 6 == 0 ? Int(rng.next() % UInt64(pieces.count)) : likely.lowerBound + Int(rng.next() % UInt64(likely.count))]
            }
            func gap() -> [UInt8] { rng.next() % 4 == 0 ? gaps[Int(rng.next() % UInt64(gaps.count))] : [0x20] }
            var line: [UInt8] = rng.next() % 5 == 0 ? gap() : []
            for index in 0..<[0, 2, 3, 4, 4, 4, 4, 5][Int(rng.next() % 8)] {
                if index > 0 { line += gap() }
                line += index == 0 ? pick(0..<3) : pick(4..<12)
            }
            if rng.next() % 5 == 0 { line += gap() }
            let ids = Self.ids(line)
            #expect(ids == Self.parsedVote(line), "\(String(decoding: line, as: UTF8.self).debugDescription)")
            if ids != nil { accepted += 1 }
        }
        // Both kinds of line were met.
        #expect(accepted > 500 && accepted < 19_000, "\(accepted)")
    }
}
