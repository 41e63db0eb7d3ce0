import Testing
@testable import PollTallyCore

@Suite("ReplyFormat")
struct ReplyFormatTests {
    static let lunch = makeTally(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?",
                                 counts: [2, 1], lastSeq: 7)

    // MARK: TALLY / UPDATE / POLL

    @Test("tallyLine is exactly TALLY <poll> <seq> <open|closed> <opt>=<n>… total=<n>")
    func tallyLine() {
        #expect(ReplyFormat.tallyLine(Self.lunch) == "TALLY lunch 7 open pizza=2 sushi=1 total=3")
    }

    @Test("tallyLine of a closed, empty poll")
    func tallyLineClosed() {
        let tally = makeTally(poll: "p", options: ["a", "b", "c"], counts: [0, 0, 0], open: false, lastSeq: 12)
        #expect(ReplyFormat.tallyLine(tally) == "TALLY p 12 closed a=0 b=0 c=0 total=0")
    }

    @Test("updateLine has the same body as tallyLine")
    func updateLine() {
        #expect(ReplyFormat.updateLine(Self.lunch) == "UPDATE lunch 7 open pizza=2 sushi=1 total=3")
        #expect(ReplyFormat.tallyBody(Self.lunch) == "lunch 7 open pizza=2 sushi=1 total=3")
    }

    @Test("the lines follow a tally built by the projection")
    func fromProjection() throws {
        var projection = Projection()
        try projection.apply(Event(seq: 1, timestampMs: 0, body: .pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "")))
        try projection.apply(Event(seq: 2, timestampMs: 0, body: .voteCast(poll: "lunch", voter: "a", option: "sushi")))
        try projection.apply(Event(seq: 3, timestampMs: 0, body: .pollClosed(poll: "lunch")))
        let tally = try #require(projection.tally("lunch"))
        #expect(ReplyFormat.tallyLine(tally) == "TALLY lunch 3 closed pizza=0 sushi=1 total=1")
        #expect(ReplyFormat.updateLine(tally) == "UPDATE lunch 3 closed pizza=0 sushi=1 total=1")
    }

    @Test("pollLine with and without a question")
    func pollLine() {
        #expect(ReplyFormat.pollLine(Self.lunch) == "POLL lunch open 7 total=3 pizza,sushi Where shall we eat?")
        let bare = makeTally(poll: "p", options: ["a", "b"], counts: [0, 1], open: false, lastSeq: 4)
        #expect(ReplyFormat.pollLine(bare) == "POLL p closed 4 total=1 a,b")
    }

    // MARK: RESULTS

    @Test("resultsBlock: header, question, one line per option, END")
    func resultsBlock() {
        let lines = ReplyFormat.resultsBlock(Self.lunch)
        #expect(lines.count == 5)
        #expect(lines.first == "RESULTS lunch 7 open total=3")
        #expect(lines[1] == "  Where shall we eat?")
        #expect(lines.last == "END")
        // Options in order, with count, percentage and a bar of barWidth * share, rounded.
        #expect(lines[2].hasPrefix("  pizza"))
        #expect(lines[2].contains(" 2 "))
        #expect(lines[2].contains(" 66.7%"))
        #expect(lines[2].hasSuffix("  " + String(repeating: "#", count: 27)))
        #expect(!lines[2].hasSuffix(String(repeating: "#", count: 28)))
        #expect(lines[3].hasPrefix("  sushi"))
        #expect(lines[3].contains(" 1 "))
        #expect(lines[3].contains(" 33.3%"))
        #expect(lines[3].hasSuffix("  " + String(repeating: "#", count: 13)))
        #expect(!lines[3].hasSuffix(String(repeating: "#", count: 14)))
        // Columns line up: the percentages start at the same column.
        let column2 = lines[2].firstRange(of: "66.7%")?.lowerBound.utf16Offset(in: lines[2])
        let column3 = lines[3].firstRange(of: "33.3%")?.lowerBound.utf16Offset(in: lines[3])
        #expect(column2 != nil && column2 == column3)
    }

    @Test("resultsBlock of a poll without votes has no bars and no trailing spaces")
    func resultsBlockEmpty() {
        let tally = makeTally(poll: "p", options: ["alpha", "b"], counts: [0, 0], lastSeq: 1)
        let lines = ReplyFormat.resultsBlock(tally)
        #expect(lines == [
            "RESULTS p 1 open total=0",
            "  p",
            "  alpha  0    0.0%",
            "  b      0    0.0%",
            "END",
        ])
        for line in lines { #expect(!line.hasSuffix(" "), "\(line.debugDescription)") }
    }

    @Test("resultsBlock of a closed poll says closed; a 100% option gets a full bar")
    func resultsBlockClosedFull() {
        let tally = makeTally(poll: "p", options: ["a", "b"], counts: [3, 0], open: false, lastSeq: 9)
        let lines = ReplyFormat.resultsBlock(tally)
        #expect(lines[0] == "RESULTS p 9 closed total=3")
        #expect(lines[2].hasSuffix("100.0%  " + String(repeating: "#", count: ReplyFormat.barWidth)))
        #expect(lines[3].hasSuffix("0.0%"))
    }

    @Test("no line inside the RESULTS block reads as END, whatever the question, poll or options", arguments: [
        ("END", "p", ["a", "b"]),
        ("", "END", ["a", "b"]),
        ("", "p", ["END", "b"]),
        ("END", "END", ["END", "x"]),
        ("Where?", "p", ["END", "END2"]),
    ] as [(String, String, [String])])
    func resultsBlockNoInnerEND(_ question: String, _ poll: String, _ options: [String]) {
        let tally = makeTally(poll: poll, options: options, question: question, counts: Array(repeating: 0, count: options.count), lastSeq: 2)
        let lines = ReplyFormat.resultsBlock(tally)
        #expect(lines.last == "END")
        #expect(lines.dropLast().allSatisfy { $0 != "END" }, "\(lines)")
        #expect(lines.count == options.count + 3)
    }

    // MARK: Percentages

    @Test("percentText is one decimal, rounded, right-aligned to 6", arguments: [
        (1, 3, " 33.3%"), (2, 3, " 66.7%"), (0, 0, "  0.0%"), (1, 1, "100.0%"),
        (0, 5, "  0.0%"), (1, 2, " 50.0%"), (1, 8, " 12.5%"), (1, 6, " 16.7%"), (5, 6, " 83.3%"),
        (1, 1000, "  0.1%"), (1, 2001, "  0.0%"), (999, 1000, " 99.9%"), (1999, 2000, "100.0%"), (7, 10, " 70.0%"),
    ] as [(Int, Int, String)])
    func percentText(_ count: Int, _ total: Int, _ expected: String) {
        #expect(ReplyFormat.percentText(count, of: total) == expected)
        #expect(ReplyFormat.percentText(count, of: total).count == 6)
    }

    // MARK: HELP

    @Test("helpBlock starts with HELP, ends with END, and lists every verb")
    func helpBlock() {
        let lines = ReplyFormat.helpBlock()
        #expect(lines.first?.hasPrefix("HELP") == true)
        #expect(lines.last == "END")
        #expect(lines.dropLast().allSatisfy { $0 != "END" })
        let verbs = ["PING", "CREATE", "VOTE", "UNVOTE", "CLOSE", "TALLY", "RESULTS", "POLLS", "WATCH", "UNWATCH", "TAIL", "STATS", "AUTH", "HELP", "QUIT"]
        let listed = lines.dropFirst().dropLast().compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(listed == verbs)
        for line in lines.dropFirst().dropLast() {
            #expect(line.hasPrefix("  "), "\(line)")
        }
        #expect(lines.count == verbs.count + 2)
    }

    @Test("helpBlock aligns the summaries in one column")
    func helpAligned() {
        let lines = ReplyFormat.helpBlock().dropFirst().dropLast()
        let columns = Set(zip(lines, RequestParser.usage).compactMap { line, entry in
            line.firstRange(of: "  " + entry.summary)?.lowerBound.utf16Offset(in: line)
        })
        #expect(columns.count == 1)
    }

    @Test("OK <seq> is the decimal seq, for every number of digits", arguments: [
        UInt64(0), 1, 9, 10, 99, 100, 12_345, 999_999_999_999, 1_000_000_000_000, UInt64.max,
    ])
    func okLine(_ seq: UInt64) {
        #expect(ReplyFormat.ok(seq) == "OK \(seq)")
    }
}
