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

    @Test("a copy is a value: changing one leaves the other")
    func copyOnWrite() {
        var a: BallotTable = ["ann": Ballot(option: 0, seq: 1), "bob": Ballot(option: 1, seq: 2)]
        let copy = a
        a.updateValue(Ballot(option: 1, seq: 3), forKey: "ann")
        a.removeValue(forKey: "bob")
        for index in 0..<100 { a.updateValue(Ballot(option: 0, seq: UInt64(10 + index)), forKey: "n\(index)") }
        #expect(copy.count == 2 && copy["ann"] == Ballot(option: 0, seq: 1) && copy["bob"] == Ballot(option: 1, seq: 2))
    }

    // MARK: - The byte-keyed operations replay uses

    /// What `move(bytes:to:)` should say and do, on the model.
    static func modelMove(_ model: inout [String: Ballot], _ voter: String, _ ballot: Ballot) -> BallotTable.Move {
        if let old = model[voter] {
            if old.option == ballot.option { return .unchanged(old) }
            model[voter] = ballot
            return .moved(from: old)
        }
        model[voter] = ballot
        return .moved(from: nil)
    }

    @Test("move(bytes:to:) and removeValue(bytes:) behave like a dictionary, through growth and compaction; prefetches change nothing",
          arguments: [UInt64(1), 2, 3, 4, 5])
    func byteOperationsMatchADictionary(_ seed: UInt64) {
        var rng = SplitMix64(seed: 7000 + seed)
        // Key spaces from a handful (long probe runs, many repeats) to thousands (growth from empty);
        // 60-byte ids make retractions leave enough garbage for the arena to be compacted.
        let space = [8, 300, 6000, 2000, 40][Int(seed - 1)]
        let pad = seed == 4 ? String(repeating: "y", count: 60) : ""
        var table = seed == 5 ? BallotTable(minimumCapacity: 0) : BallotTable()
        var model: [String: Ballot] = [:]
        var outcomes: [String: Int] = [:]
        for step in 0..<30_000 {
            let voter = "\(pad)v\(Int.random(in: 0..<space, using: &rng))"
            let bytes = Array(voter.utf8)
            let roll = Int.random(in: 0..<20, using: &rng)
            bytes.withUnsafeBytes { raw in
                // Hints for this voter and another, before anything: they must not disturb a thing.
                table.prefetch(hash: table.hash(raw))
                if roll < 5 {
                    let removed = table.removeValue(bytes: raw)
                    #expect(removed == model.removeValue(forKey: voter), "step \(step)")
                    outcomes[removed == nil ? "remove-absent" : "remove", default: 0] += 1
                } else if roll < 18 {
                    // Few options, so repeats of the current option are common.
                    let ballot = Ballot(option: UInt16.random(in: 0..<3, using: &rng), seq: UInt64(step + 1))
                    let expected = Self.modelMove(&model, voter, ballot)
                    let actual = table.move(bytes: raw, to: ballot)
                    #expect(actual == expected, "step \(step) \(voter)")
                    switch actual {
                    case .unchanged: outcomes["unchanged", default: 0] += 1
                    case .moved(nil): outcomes["first", default: 0] += 1
                    case .moved: outcomes["moved", default: 0] += 1
                    }
                } else if roll < 19 {
                    // The String API interleaved with the byte API.
                    let ballot = Ballot(option: UInt16.random(in: 0..<3, using: &rng), seq: UInt64(step + 1))
                    #expect(table.updateValue(ballot, forKey: voter) == model.updateValue(ballot, forKey: voter))
                } else {
                    #expect(table[bytes: raw] == model[voter])
                    #expect(table.removeValue(forKey: voter) == model.removeValue(forKey: voter))
                }
            }
            #expect(table.count == model.count)
            if step % 3000 == 0 { #expect(Self.dictionary(table) == model, "step \(step)") }
        }
        #expect(Self.dictionary(table) == model)
        for index in 0..<space {
            var voter = Array("\(pad)v\(index)".utf8)
            #expect(voter.withUnsafeBytes { table[bytes: $0] } == model["\(pad)v\(index)"])
            voter = []
        }
        for outcome in ["remove", "remove-absent", "unchanged", "first", "moved"] {
            #expect(outcomes[outcome, default: 0] > 0, "never saw \(outcome): \(outcomes)")
        }
    }

    @Test("an unchanged move keeps the old ballot, seq included; a move replaces both")
    func moveKeepsSeqWhenUnchanged() {
        var table = BallotTable()
        var ann = Array("ann".utf8)
        ann.withUnsafeBytes { raw in
            #expect(table.move(bytes: raw, to: Ballot(option: 1, seq: 5)) == .moved(from: nil))
            #expect(table.move(bytes: raw, to: Ballot(option: 1, seq: 9)) == .unchanged(Ballot(option: 1, seq: 5)))
            #expect(table[bytes: raw] == Ballot(option: 1, seq: 5))
            #expect(table.move(bytes: raw, to: Ballot(option: 0, seq: 11)) == .moved(from: Ballot(option: 1, seq: 5)))
            #expect(table[bytes: raw] == Ballot(option: 0, seq: 11))
            #expect(table.removeValue(bytes: raw) == Ballot(option: 0, seq: 11))
            #expect(table.removeValue(bytes: raw) == nil)
            #expect(table.isEmpty)
        }
        ann = []
    }

    @Test("prefetch changes nothing: on an empty table, for present and absent voters, through growth")
    func prefetchesChangeNothing() {
        var table = BallotTable()
        for voter in ["a", "nobody", String(repeating: "z", count: 64)] {
            var bytes = Array(voter.utf8)
            bytes.withUnsafeBytes { table.prefetch(hash: table.hash($0)) }
            bytes = []
        }
        #expect(table.isEmpty && table.entries.isEmpty)
        var model: [String: Ballot] = [:]
        for index in 0..<2000 {
            let ballot = Ballot(option: UInt16(index % 5), seq: UInt64(index))
            table.updateValue(ballot, forKey: "voter\(index)")
            model["voter\(index)"] = ballot
            let copy = table
            for probe in ["voter\(index)", "voter\(index / 2)", "absent\(index)", "voter\(index + 1)"] {
                var bytes = Array(probe.utf8)
                bytes.withUnsafeBytes { table.prefetch(hash: table.hash($0)) }
                bytes = []
            }
            #expect(table == copy)
            if index % 250 == 0 { #expect(Self.dictionary(table) == model) }
        }
        #expect(Self.dictionary(table) == model)
    }
}
