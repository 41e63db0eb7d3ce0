import Testing
@testable import PollTallyClient

/// `TallyScreen`: the live view's rendering, a pure function of the tally, the question and the width.
@Suite("TallyScreen")
struct TallyScreenTests {
    static func tally(_ text: String) -> TallyLine {
        guard let line = TallyLine(text) else { fatalError("bad fixture \(text)") }
        return line
    }

    /// The option rows: every line after the blank one that follows the header, up to the next blank.
    static func rows(_ lines: [String]) -> [String] {
        Array(lines.dropFirst(3).prefix { !$0.isEmpty })
    }

    static func filled(_ row: String) -> Int { row.filter { $0 == "█" }.count }
    static func empty(_ row: String) -> Int { row.filter { $0 == "░" }.count }

    @Test("the header names the question, the poll, open or closed, the seq and the voters")
    func header() {
        let lines = TallyScreen.lines(Self.tally("UPDATE lunch 7 open pizza=3 sushi=1 total=4"), question: "Where shall we eat?", width: 80)
        #expect(lines[0] == "Where shall we eat?")
        #expect(lines[1] == "poll lunch · open · seq 7 · 4 voters")
        #expect(lines[2] == "")
        #expect(Self.rows(lines).count == 2)
        #expect(lines.count == 5, "an open poll has no closing note: \(lines)")
    }

    @Test("one voter is singular; an empty question falls back to the poll id")
    func singularAndEmptyQuestion() {
        let lines = TallyScreen.lines(Self.tally("UPDATE lunch 2 open pizza=1 sushi=0 total=1"), question: "", width: 80)
        #expect(lines[0] == "lunch")
        #expect(lines[1] == "poll lunch · open · seq 2 · 1 voter")
    }

    @Test("bars are proportional to the counts and every bar has the same width")
    func proportionalBars() {
        let lines = TallyScreen.lines(Self.tally("UPDATE p 9 open a=3 b=1 c=0 total=4"), question: "Q", width: 80)
        let rows = Self.rows(lines)
        #expect(rows.count == 3)
        let widths = rows.map { Self.filled($0) + Self.empty($0) }
        #expect(Set(widths).count == 1, "\(widths)")
        let bar = widths[0]
        // 80 columns - name (1) - count (1) - 14 = 64 cells.
        #expect(bar == 64)
        #expect(Self.filled(rows[0]) == 48)
        #expect(Self.filled(rows[1]) == 16)
        #expect(Self.filled(rows[2]) == 0)
        #expect(Self.filled(rows[0]) == 3 * Self.filled(rows[1]))
        #expect(rows[0].hasPrefix("a  █"))
        #expect(rows[0].hasSuffix("  3   75.0%"))
        #expect(rows[1].hasSuffix("  1   25.0%"))
        #expect(rows[2].hasSuffix("  0    0.0%"))
    }

    @Test("bars stay proportional at every width; each filled cell count is the rounded share", arguments: [40, 57, 80, 121, 200])
    func proportionalAtEveryWidth(_ width: Int) {
        let tally = Self.tally("UPDATE p 9 open alpha=7 beta=2 gamma=1 total=10")
        let rows = Self.rows(TallyScreen.lines(tally, question: "Q", width: width))
        let bar = Self.filled(rows[0]) + Self.empty(rows[0])
        for (row, count) in zip(rows, [7, 2, 1]) {
            let exact = Double(count * bar) / 10
            #expect(abs(Double(Self.filled(row)) - exact) <= 0.5, "\(row)")
            #expect(Self.filled(row) + Self.empty(row) == bar)
        }
        #expect(Self.filled(rows[0]) >= Self.filled(rows[1]) && Self.filled(rows[1]) >= Self.filled(rows[2]))
    }

    @Test("a full poll fills its bar; no votes fills none")
    func fullAndEmpty() {
        let full = Self.rows(TallyScreen.lines(Self.tally("UPDATE p 3 open a=2 b=0 total=2"), question: "Q", width: 60))
        #expect(Self.empty(full[0]) == 0)
        #expect(Self.filled(full[1]) == 0)
        #expect(full[0].hasSuffix("100.0%"))
        let none = Self.rows(TallyScreen.lines(Self.tally("UPDATE p 1 open a=0 b=0 total=0"), question: "Q", width: 60))
        #expect(none.allSatisfy { Self.filled($0) == 0 && $0.hasSuffix("0.0%") })
    }

    @Test("no line is wider than the terminal", arguments: [40, 41, 64, 80, 132])
    func fitsTheWidth(_ width: Int) {
        let tally = Self.tally("UPDATE a-very-long-poll-identifier-that-goes-on-and-on 123456 closed yes=123456 no=7 total=123463")
        let lines = TallyScreen.lines(tally, question: String(repeating: "Why? ", count: 40), width: width)
        for line in lines { #expect(line.count <= width, "\(line.count) > \(width): \(line)") }
        // The long question and header are clipped with an ellipsis.
        #expect(lines[0].hasSuffix("…"))
        #expect(lines[0].count == width)
    }

    @Test("long option names still fit a narrow terminal", arguments: [40, 46, 52])
    func longNamesFitTheWidth(_ width: Int) {
        let tally = Self.tally("UPDATE p 123456 open option-with-a-long-long-long-name=123456 b=7 total=123463")
        let lines = TallyScreen.lines(tally, question: "Q", width: width)
        for line in lines { #expect(line.count <= width, "\(line.count) > \(width): \(line)") }
    }

    @Test("a width under 40 is drawn as 40")
    func narrowTerminal() {
        let tally = Self.tally("UPDATE p 9 open a=3 b=1 total=4")
        #expect(TallyScreen.lines(tally, question: "Q", width: 10) == TallyScreen.lines(tally, question: "Q", width: 40))
    }

    @Test("long option names are cut to 24 columns and rows stay aligned")
    func longNames() {
        let long = String(repeating: "x", count: 30)
        let rows = Self.rows(TallyScreen.lines(Self.tally("UPDATE p 9 open \(long)=1 b=1 total=2"), question: "Q", width: 80))
        #expect(rows[0].hasPrefix(String(repeating: "x", count: 24) + "  "))
        #expect(rows[1].hasPrefix("b" + String(repeating: " ", count: 23) + "  "))
        #expect(rows[0].count == rows[1].count)
    }

    @Test("counts are right-aligned to the widest count")
    func countAlignment() {
        let rows = Self.rows(TallyScreen.lines(Self.tally("UPDATE p 9 open a=100 b=5 total=105"), question: "Q", width: 80))
        #expect(rows[0].hasSuffix("  100   95.2%"))
        #expect(rows[1].hasSuffix("    5    4.8%"))
    }

    @Test("a closed poll says its results are final")
    func closedNote() {
        let lines = TallyScreen.lines(Self.tally("UPDATE p 9 closed a=3 b=1 total=4"), question: "Q", width: 80)
        #expect(lines[1] == "poll p · closed · seq 9 · 4 voters")
        #expect(lines.suffix(2) == ["", "This poll is closed: these are the final results."])
        let open = TallyScreen.lines(Self.tally("UPDATE p 9 open a=3 b=1 total=4"), question: "Q", width: 80)
        #expect(!open.contains("This poll is closed: these are the final results."))
    }

    @Test("the plain line carries every field of the update")
    func plainLine() {
        #expect(TallyScreen.plainLine(Self.tally("UPDATE lunch 7 open pizza=3 sushi=1 total=4")) == "lunch seq=7 open pizza=3 sushi=1 total=4")
        #expect(TallyScreen.plainLine(Self.tally("UPDATE lunch 8 closed pizza=3 sushi=1 total=4")) == "lunch seq=8 closed pizza=3 sushi=1 total=4")
    }

    @Test("percentages are rounded to tenths and padded to six columns", arguments: [
        (0, 0, "  0.0%"), (1, 3, " 33.3%"), (2, 3, " 66.7%"), (1, 1, "100.0%"), (1, 8, " 12.5%"), (1, 2000, "  0.1%"), (1, 20001, "  0.0%"),
    ] as [(Int, Int, String)])
    func percent(_ count: Int, _ total: Int, _ text: String) {
        #expect(TallyScreen.percent(count, of: total) == text)
    }
}
