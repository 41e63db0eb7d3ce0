import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("BallotTable")
struct BallotTableTests {
    typealias Ballot = PollState.Ballot

    static func dictionary(_ table: BallotTable) -> [String: Ballot] {
        Dictionary(uniqueKeysWithValues: table.entries.map { ($0.voter, $0.ballot) })
    }

    @Test("behaves like a dictionary under random updates and removals", arguments: [UInt64(1), 2, 3, 4])
    func matchesADictionary(_ seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = BallotTable()
        var model: [String: Ballot] = [:]
        // A small key space forces long probe runs, moves and backward shifts; long ids force arena compaction.
        let space = [50, 500, 5000, 300][Int(seed - 1)]
        let pad = seed == 4 ? String(repeating: "x", count: 60) : ""
        for step in 0..<40_000 {
            let voter = "\(pad)v\(Int.random(in: 0..<space, using: &rng))"
            if Int.random(in: 0..<10, using: &rng) < 3 {
                #expect(table.removeValue(forKey: voter) == model.removeValue(forKey: voter))
            } else {
                let ballot = Ballot(option: UInt16.random(in: 0..<4, using: &rng), seq: UInt64(step + 1))
                #expect(table.updateValue(ballot, forKey: voter) == model.updateValue(ballot, forKey: voter))
            }
            #expect(table.count == model.count)
            if step % 4000 == 0 {
                #expect(Self.dictionary(table) == model)
                for key in model.keys { #expect(table[key] == model[key]) }
            }
        }
        #expect(Self.dictionary(table) == model)
        for index in 0..<space { #expect(table["\(pad)v\(index)"] == model["\(pad)v\(index)"]) }
    }

    @Test("insertNew adds only absent voters; equality ignores layout and insertion order")
    func insertNewAndEquality() {
        var a = BallotTable(minimumCapacity: 3)
        var b = BallotTable()
        let voters = ["ann", "bob", "cy", "dee"]
        for (index, voter) in voters.enumerated() {
            var bytes = Array(voter.utf8)
            #expect(bytes.withUnsafeBytes { a.insertNew(bytes: $0, Ballot(option: UInt16(index), seq: UInt64(index + 1))) })
            #expect(!bytes.withUnsafeBytes { a.insertNew(bytes: $0, Ballot(option: 9, seq: 99)) })
            bytes = []
        }
        for (index, voter) in voters.enumerated().reversed() { b.updateValue(Ballot(option: UInt16(index), seq: UInt64(index + 1)), forKey: voter) }
        #expect(a == b)
        #expect(a["bob"] == Ballot(option: 1, seq: 2))
        b.updateValue(Ballot(option: 3, seq: 2), forKey: "bob")
        #expect(a != b)
        b.removeValue(forKey: "bob")
        #expect(a != b)
        #expect(b.count == 3)
        let literal: BallotTable = ["ann": Ballot(option: 0, seq: 1)]
        #expect(literal.count == 1 && literal["ann"] == Ballot(option: 0, seq: 1) && literal["bob"] == nil)
        #expect(BallotTable().isEmpty && BallotTable()["x"] == nil)
        var empty = BallotTable()
        #expect(empty.removeValue(forKey: "x") == nil)
    }

    @Test("ids that differ in a byte or two spread evenly: probe runs stay short")
    func spread() {
        for prefix in ["v", "voter-000000000000000000000000000000000000000000000000000", "a@b.c:"] {
            var table = BallotTable(minimumCapacity: 98_000)
            for index in 0..<98_000 { table.updateValue(Ballot(option: 0, seq: 1), forKey: "\(prefix)\(index)") }
            // 98,000 of 131,072 slots: random hashing gives runs of a few hundred at most.
            #expect(table.longestRun < 1000, "\(prefix): \(table.longestRun)")
            print("longest run with prefix \(prefix.prefix(8)): \(table.longestRun)")
        }
    }

    @Test("a bulk load equals one insert at a time, and stops at the first repeated voter", arguments: [0, 1, 7, 8, 9, 100, 5000])
    func bulkLoad(_ count: Int) {
        var bytes: [UInt8] = []
        var entries: [BallotTable.LoadEntry] = []
        var expected = BallotTable()
        for index in 0..<count {
            let voter = "voter\(index * 7919 % 100_003)"
            let ballot = Ballot(option: UInt16(index % 3), seq: UInt64(index + 1))
            entries.append(BallotTable.LoadEntry(keyStart: bytes.count, keyLength: UInt8(voter.utf8.count), ballot: ballot))
            bytes += Array(voter.utf8)
            expected.updateValue(ballot, forKey: voter)
        }
        var table = BallotTable(minimumCapacity: count / 2)
        let duplicate = bytes.withUnsafeBytes { raw in entries.withUnsafeBufferPointer { table.load($0, keys: raw) } }
        #expect(duplicate == nil)
        #expect(table == expected)
        #expect(table.count == count)
        guard count > 1 else { return }
        // The same voter again, in the table already or twice in one load.
        #expect(bytes.withUnsafeBytes { raw in entries.withUnsafeBufferPointer { table.load(UnsafeBufferPointer(rebasing: $0[1...]), keys: raw) } } == 0)
        var fresh = BallotTable()
        let twice = [entries[0], entries[1], entries[0]]
        #expect(bytes.withUnsafeBytes { raw in twice.withUnsafeBufferPointer { fresh.load($0, keys: raw) } } == 2)
        #expect(fresh.count == 2)
    }

    @Test("a copy is a value: changing one leaves the other")
    func copyOnWrite() {
        var a: BallotTable = ["ann": Ballot(option: 0, seq: 1), "bob": Ballot(option: 1, seq: 2)]
        let copy = a
        a.updateValue(Ballot(option: 1, seq: 3), forKey: "ann")
        a.removeValue(forKey: "bob")
        for index in 0..<100 { a.updateValue(Ballot(option: 0, seq: UInt64(10 + index)), forKey: "n\(index)") }
        #expect(copy.count == 2 && copy["ann"] == Ballot(option: 0, seq: 1) && copy["bob"] == Ballot(option: 1, seq: 2))
    }
}
