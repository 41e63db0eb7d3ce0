import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("BallotTable image")
struct BallotTableImageTests {
    typealias Ballot = PollState.Ballot

    /// The bytes of an image, split into its columns as `SnapshotCodec` does.
    struct Columns {
        var count = 0, slotCount = 0, idBytes = 0
        var key = IDHash.Key(s0: 1, s1: 1, s2: 1)
        var occupancy: [UInt8] = [], lengths: [UInt8] = [], ids: [UInt8] = [], options: [UInt8] = [], seqs: [UInt8] = []

        init(_ table: BallotTable) {
            var bytes: [UInt8] = []
            table.appendImage(to: &bytes)
            func u32(_ at: Int) -> Int { Int(bytes[at..<at + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
            func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            count = u32(0)
            slotCount = u32(4)
            idBytes = u32(8)
            key = IDHash.Key(s0: u64(12), s1: u64(20), s2: u64(28))
            var at = 36
            func take(_ length: Int) -> [UInt8] {
                defer { at += length }
                return Array(bytes[at..<at + length])
            }
            occupancy = take(slotCount / 8)
            lengths = take(count)
            ids = take(idBytes)
            options = take(count * 2)
            seqs = take(count * 8)
            #expect(at == bytes.count)
        }

        /// The table these columns describe, and the counts per option (4 options, last seq `lastSeq`).
        func restore(lastSeq: UInt64 = 1_000_000) -> Result<(BallotTable, [Int]), BallotTable.ImageFault> {
            occupancy.withUnsafeBytes { occupancy in
                lengths.withUnsafeBytes { lengths in
                    ids.withUnsafeBytes { ids in
                        options.withUnsafeBytes { options in
                            seqs.withUnsafeBytes { seqs in
                                let image = BallotTable.Image(slotCount: slotCount, hashKey: key, occupancy: occupancy, lengths: lengths,
                                                              ids: ids, options: options, seqs: seqs)
                                var counts = [0, 0, 0, 0]
                                do throws(BallotTable.ImageFault) {
                                    let table = try BallotTable(image: image, optionCount: 4, lastSeq: lastSeq, counts: &counts)
                                    return .success((table, counts))
                                } catch {
                                    return .failure(error)
                                }
                            }
                        }
                    }
                }
            }
        }

        func isOccupied(_ slot: Int) -> Bool { occupancy[slot / 8] & (1 << UInt8(slot % 8)) != 0 }
    }

    /// A table shaped by random votes and retractions: long runs, backward shifts, retracted ids in the arena.
    static func randomTable(seed: UInt64, voters: Int, steps: Int) -> BallotTable {
        var rng = SplitMix64(seed: seed)
        var table = BallotTable()
        for step in 0..<steps {
            let voter = "v\(Int.random(in: 0..<voters, using: &rng))"
            if Int.random(in: 0..<10, using: &rng) < 3 {
                table.removeValue(forKey: voter)
            } else {
                table.updateValue(Ballot(option: UInt16.random(in: 0..<4, using: &rng), seq: UInt64(step + 1)), forKey: voter)
            }
        }
        return table
    }

    @Test("a table comes back slot for slot: same ballots, same layout, same key, counts per option", arguments: [
        (UInt64(1), 0, 0), (2, 1, 1), (3, 6, 40), (4, 50, 400), (5, 500, 3000), (6, 5000, 20000),
    ] as [(UInt64, Int, Int)])
    func roundTrip(_ seed: UInt64, voters: Int, steps: Int) throws {
        let table = Self.randomTable(seed: seed, voters: voters, steps: steps)
        let (restored, counts) = try Columns(table).restore().get()
        #expect(restored == table)
        #expect(restored.count == table.count)
        #expect(restored.hashKey == table.hashKey)
        if table.count > 0 {
            // Every entry in the slot it had; only the offsets into the (compacted) arena differ.
            func layout(_ table: BallotTable) -> [[UInt64]] { table.slots.map { [UInt64($0.keyLength), UInt64($0.tag), UInt64($0.option), $0.seq] } }
            #expect(layout(restored) == layout(table))
            #expect(restored.garbage == 0 && restored.keys.count == table.keys.count - table.garbage)
        }
        var expected = [0, 0, 0, 0]
        table.forEachRaw { _, ballot in expected[Int(ballot.option)] += 1 }
        #expect(counts == expected)
        // And it goes on working: moves, retractions, growth.
        var changed = restored
        var model = BallotTableTests.dictionary(table)
        for index in 0..<2 * voters + 20 {
            let voter = "v\(index)"
            if index % 3 == 0 {
                #expect(changed.removeValue(forKey: voter) == model.removeValue(forKey: voter))
            } else {
                let ballot = Ballot(option: UInt16(index % 4), seq: UInt64(steps + index + 1))
                #expect(changed.updateValue(ballot, forKey: voter) == model.updateValue(ballot, forKey: voter))
            }
        }
        #expect(BallotTableTests.dictionary(changed) == model)
    }

    @Test("runs that wrap past the last slot come back too")
    func wrappingRuns() throws {
        var wrapped = 0
        for seed in UInt64(1)...200 {
            var table = BallotTable()
            for index in 0..<6 { table.updateValue(Ballot(option: 1, seq: 1), forKey: "w\(seed)-\(index)") }
            let columns = Columns(table)
            #expect(columns.slotCount == 8)
            if columns.isOccupied(7) && columns.isOccupied(0) { wrapped += 1 }
            #expect(try columns.restore().get().0 == table)
        }
        #expect(wrapped > 20)
    }

    /// Ids whose home slot in a table of `slotCount` slots is `home` under `key`.
    static func ids(homedAt home: Int, slotCount: Int, key: IDHash.Key, count: Int) -> [String] {
        var found: [String] = []
        var candidate = 0
        while found.count < count {
            let id = "k\(candidate)"
            candidate += 1
            let hash = Array(id.utf8).withUnsafeBytes { IDHash.hash($0, key: key) }
            if Int(truncatingIfNeeded: hash) & (slotCount - 1) == home { found.append(id) }
        }
        return found
    }

    /// Columns for `slots` (slot → id) in a table of `slotCount` slots under `key`: every ballot option 1, seq 1.
    static func columns(_ slots: [Int: String], slotCount: Int, key: IDHash.Key) -> Columns {
        var columns = Columns(BallotTable())
        columns.count = slots.count
        columns.slotCount = slotCount
        columns.key = key
        columns.occupancy = [UInt8](repeating: 0, count: slotCount / 8)
        for slot in slots.keys { columns.occupancy[slot / 8] |= 1 << UInt8(slot % 8) }
        let ordered = slots.keys.sorted().compactMap { slots[$0] }
        columns.lengths = ordered.map { UInt8($0.utf8.count) }
        columns.ids = ordered.flatMap { Array($0.utf8) }
        columns.options = ordered.flatMap { _ in [UInt8(1), 0] }
        columns.seqs = ordered.flatMap { _ in [UInt8(1), 0, 0, 0, 0, 0, 0, 0] }
        return columns
    }

    @Test("long runs: the first empty slot past the first 64, and a run wrapping past the end of a many-word table")
    func longRuns() throws {
        let key = IDHash.processKey
        // 71 voters at home 0 of 128 slots fill slots 0...70: the walk starts in the second word.
        let early = Self.ids(homedAt: 0, slotCount: 128, key: key, count: 71)
        let first = Self.columns(Dictionary(uniqueKeysWithValues: early.enumerated().map { ($0.offset, $0.element) }), slotCount: 128, key: key)
        let (table, counts) = try first.restore().get()
        #expect(table.count == 71 && counts == [0, 71, 0, 0])
        for id in early { #expect(table[id] == Ballot(option: 1, seq: 1), "\(id)") }
        // 20 voters at home 250 of 256 slots fill 250...255 and 0...13.
        let late = Self.ids(homedAt: 250, slotCount: 256, key: key, count: 20)
        let wrapped = Self.columns(Dictionary(uniqueKeysWithValues: late.enumerated().map { (($0.offset + 250) % 256, $0.element) }), slotCount: 256, key: key)
        let (around, _) = try wrapped.restore().get()
        #expect(around.count == 20)
        for id in late { #expect(around[id] == Ballot(option: 1, seq: 1), "\(id)") }
        // One of them a slot too early (before its home, after an empty slot): misplaced.
        var early2 = Dictionary(uniqueKeysWithValues: late.enumerated().map { (($0.offset + 250) % 256, $0.element) })
        early2[249] = early2.removeValue(forKey: 13)
        #expect(Self.columns(early2, slotCount: 256, key: key).restore().failure.map { if case .misplaced = $0 { true } else { false } } == true)
    }

    @Test("an entry moved from where a lookup finds it is refused")
    func misplaced() {
        var table = BallotTable()
        table.updateValue(Ballot(option: 0, seq: 1), forKey: "solo")
        var columns = Columns(table)
        let byte = columns.occupancy[0]
        columns.occupancy[0] = byte << 1 | byte >> 7
        #expect(columns.restore().failure == .misplaced(ballot: 0))
    }

    @Test("a voter twice in one run is refused")
    func duplicate() {
        var columns = Columns(BallotTable())
        let key = IDHash.processKey
        let home = Array("v".utf8).withUnsafeBytes { Int(truncatingIfNeeded: IDHash.hash($0, key: key)) & 7 }
        columns.count = 2
        columns.slotCount = 8
        columns.key = key
        columns.occupancy = [UInt8(1 << home) | UInt8(1 << ((home + 1) & 7))]
        columns.lengths = [1, 1]
        columns.ids = Array("vv".utf8)
        columns.options = [0, 0, 1, 0]
        columns.seqs = [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        guard case .failure(.duplicate) = columns.restore() else {
            Issue.record("\(columns.restore())")
            return
        }
        // Different voters in the same places are fine, wherever "w" hashes: a run check only
        // refuses an entry before its home, so put "w" at its own home when that is not v's.
        columns.ids = Array("vw".utf8)
        let other = Array("w".utf8).withUnsafeBytes { Int(truncatingIfNeeded: IDHash.hash($0, key: key)) & 7 }
        if other != home {
            columns.occupancy = [UInt8(1 << home) | UInt8(1 << other)]
            if other < home { columns.ids = Array("wv".utf8) }
            #expect(columns.restore().isSuccess)
        }
    }

    @Test("random damage to the columns never traps; whatever is taken back is a table whose every ballot is found")
    func randomDamage() {
        let table = Self.randomTable(seed: 11, voters: 120, steps: 600)
        let columns = Columns(table)
        var rng = SplitMix64(seed: 12)
        var refused = 0, taken = 0
        for _ in 0..<3000 {
            var damaged = columns
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let value = UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: damaged.occupancy[Int.random(in: 0..<damaged.occupancy.count, using: &rng)] = value
                case 1: damaged.lengths[Int.random(in: 0..<damaged.lengths.count, using: &rng)] = value
                case 2: damaged.ids[Int.random(in: 0..<damaged.ids.count, using: &rng)] = value
                case 3: damaged.options[Int.random(in: 0..<damaged.options.count, using: &rng)] = value
                default: damaged.seqs[Int.random(in: 0..<damaged.seqs.count, using: &rng)] = value
                }
            }
            switch damaged.restore() {
            case .failure:
                refused += 1
            case .success(let (restored, counts)):
                taken += 1
                var found = 0
                var expected = [0, 0, 0, 0]
                restored.forEachRaw { voter, ballot in
                    if restored[bytes: voter] == ballot { found += 1 }
                    expected[Int(ballot.option)] += 1
                }
                #expect(found == restored.count && counts == expected)
            }
        }
        // Most damage breaks a rule; the rest (an id byte swapped for another allowed one that
        // hashes to the same run, an option or seq nudged within range) makes a consistent table.
        #expect(refused > 1500 && taken > 0, "\(refused) refused, \(taken) taken")
    }

    @Test("every field is checked", arguments: [
        "idLength0", "idLength65", "idBytes", "invalidID", "option", "seq0", "seqLate", "occupancy", "shape", "hashKey",
    ])
    func faults(_ damage: String) {
        var table = BallotTable()
        for index in 0..<5 { table.updateValue(Ballot(option: UInt16(index % 4), seq: UInt64(index + 1)), forKey: "voter\(index)") }
        var columns = Columns(table)
        let expected: BallotTable.ImageFault
        switch damage {
        case "idLength0": columns.lengths[2] = 0; expected = .idLength(ballot: 2)
        case "idLength65": columns.lengths[3] = 65; expected = .idLength(ballot: 3)
        case "idBytes": columns.ids.append(UInt8(ascii: "x")); expected = .idBytes
        case "invalidID": columns.ids[0] = UInt8(ascii: " "); expected = .invalidID(ballot: 0)
        case "option": columns.options[2] = 4; expected = .option(ballot: 1)
        case "seq0": columns.seqs[8] = 0; expected = .seq(ballot: 1)
        case "seqLate": columns.seqs[0] = 99; expected = .seq(ballot: 0)
        case "occupancy": columns.occupancy[0] = 0xFF; expected = .occupancy
        case "shape": columns.slotCount = 4; expected = .shape
        default: columns.key.s1 &= ~1; expected = .hashKey
        }
        let result = columns.restore(lastSeq: 5)
        // A walk that starts after the first empty slot may meet another bad entry first; the
        // per-ballot faults name the one it met.
        switch (result.failure, expected) {
        case (.some(let fault), _) where fault == expected: break
        case (.invalidID, .invalidID), (.option, .option), (.seq, .seq): break
        default: Issue.record("\(damage): \(String(describing: result.failure)), expected \(expected)")
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    var isSuccess: Bool { failure == nil }
}
