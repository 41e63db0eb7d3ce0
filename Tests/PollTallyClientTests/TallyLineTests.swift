import Testing
@testable import PollTallyClient

/// `TallyLine`: what `polltally watch` reads from a `TALLY` or `UPDATE` line.
@Suite("TallyLine")
struct TallyLineTests {
    @Test("an UPDATE line parses into its parts, options in order")
    func update() throws {
        let line = try #require(TallyLine("UPDATE priority 5 open climate=2 poverty=0 health=1 peace=0 total=3"))
        #expect(line.poll == "priority")
        #expect(line.seq == 5)
        #expect(line.isOpen)
        #expect(line.options.map(\.name) == ["climate", "poverty", "health", "peace"])
        #expect(line.options.map(\.count) == [2, 0, 1, 0])
        #expect(line.total == 3)
    }

    @Test("TALLY lines, bare bodies and UPDATE lines of the same tally are equal")
    func prefixes() throws {
        let update = try #require(TallyLine("UPDATE p 9 closed a=3 b=1 total=4"))
        #expect(TallyLine("TALLY p 9 closed a=3 b=1 total=4") == update)
        #expect(TallyLine("p 9 closed a=3 b=1 total=4") == update)
        #expect(!update.isOpen)
        #expect(update.seq == 9)
    }

    @Test("runs of spaces between fields are accepted")
    func spaces() {
        #expect(TallyLine("UPDATE  p  2 open  a=1   b=0 total=1") == TallyLine("UPDATE p 2 open a=1 b=0 total=1"))
    }

    @Test("a poll without options still parses (total only)")
    func noOptions() throws {
        let line = try #require(TallyLine("UPDATE p 1 open total=0"))
        #expect(line.options.isEmpty)
        #expect(line.total == 0)
    }

    @Test("large seqs and counts parse")
    func large() throws {
        let line = try #require(TallyLine("UPDATE p 18446744073709551615 open a=1000000 b=2 total=1000002"))
        #expect(line.seq == UInt64.max)
        #expect(line.options.map(\.count) == [1_000_000, 2])
    }

    @Test("an option name is split at its last '='")
    func optionNameWithEquals() throws {
        // Ids cannot hold '=', but the parser splits at the last one, so a count is always the tail.
        let line = try #require(TallyLine("UPDATE p 3 open x=y=2 total=2"))
        #expect(line.options.map(\.name) == ["x=y"])
        #expect(line.options.map(\.count) == [2])
    }

    @Test("equality looks at every field", arguments: [
        "UPDATE q 9 closed a=3 b=1 total=4",
        "UPDATE p 8 closed a=3 b=1 total=4",
        "UPDATE p 9 open a=3 b=1 total=4",
        "UPDATE p 9 closed a=2 b=1 total=4",
        "UPDATE p 9 closed a=3 c=1 total=4",
        "UPDATE p 9 closed a=3 b=1 total=5",
        "UPDATE p 9 closed a=3 b=1 c=0 total=4",
        "UPDATE p 9 closed b=1 a=3 total=4",
    ])
    func equality(_ other: String) throws {
        let base = try #require(TallyLine("UPDATE p 9 closed a=3 b=1 total=4"))
        let parsed = try #require(TallyLine(other))
        #expect(parsed != base)
    }

    @Test("malformed lines are nil", arguments: [
        "",
        "UPDATE",
        "UPDATE p",
        "UPDATE p 5 open",
        "UPDATE p x open a=1 total=1",
        "UPDATE p -5 open a=1 total=1",
        "UPDATE p 5 ajar a=1 total=1",
        "UPDATE p 5 OPEN a=1 total=1",
        "UPDATE p 5 open a=1 b=2",
        "UPDATE p 5 open a=1 total=x",
        "UPDATE p 5 open a=1 total=",
        "UPDATE p 5 open a total=1",
        "UPDATE p 5 open a=one total=1",
        "UPDATE p 5 open a= total=1",
        "OK watching 1",
        "ERR no-such-poll no poll named p",
    ])
    func malformed(_ line: String) {
        #expect(TallyLine(line) == nil, "\(line)")
    }
}
