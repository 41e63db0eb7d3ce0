import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("SnapshotCodec")
struct SnapshotCodecTests {
    /// One poll "p" with options a, b, one ballot v→b at seq 3, lastSeq 4; seq 4, maxSeq 5.
    /// Its bytes have fixed offsets, listed here for the tests that damage a field.
    static func tiny() -> [UInt8] {
        var tally = Tally(poll: "p", options: ["a", "b"], question: "", seq: 4)
        tally.counts = [0, 1]
        var state = PollState(tally: tally)
        state.ballots = ["v": PollState.Ballot(option: 1, seq: 3)]
        return SnapshotCodec.encode(Snapshot(seq: 4, maxSeq: 5, sections: [["p": state]]))
    }
    static let pollOffset = 68, flagOffset = 70, lastSeqOffset = 71, secondOptionOffset = 82
    static let ballotCountOffset = 86, slotCountOffset = 90, hashKeyOffset = 98, occupancyOffset = 122
    static let idLengthOffset = 123, voterOffset = 124, ballotOptionOffset = 125, ballotSeqOffset = 127, tinySize = 139

    @Test("round trip: sections, closed polls, questions, ballots")
    func roundTrip() throws {
        for seed in UInt64(1)...20 {
            let events = try randomHistory(seed: seed, events: 400)
            let last = UInt64(events.count)
            let snapshot = try cutSnapshot(events, watermarks: [last - seed, last, last - 2 * seed])
            let bytes = SnapshotCodec.encode(snapshot)
            let decoded = try SnapshotCodec.decode(bytes)
            #expect(decoded == snapshot)
            #expect(decoded.pollCount == snapshot.pollCount)
            #expect(decoded.ballotCount == snapshot.ballotCount)
            // Counts are derived from the ballots on decode and match the live tallies.
            for section in decoded.sections {
                for state in section.values {
                    let derived = state.tally.options.indices.map { index in state.ballots.entries.filter { Int($0.ballot.option) == index }.count }
                    #expect(state.tally.counts == derived)
                }
            }
        }
    }

    @Test("an empty snapshot round-trips with one empty section")
    func empty() throws {
        let bytes = SnapshotCodec.encode(Snapshot(seq: 0, maxSeq: 0, sections: []))
        #expect(bytes.count == SnapshotCodec.headerSize + SnapshotCodec.sectionEntrySize + SnapshotCodec.trailerSize)
        #expect(try SnapshotCodec.decode(bytes) == Snapshot(seq: 0, maxSeq: 0, sections: [[:]]))
    }

    @Test("the fixed offsets of the tiny snapshot")
    func tinyLayout() throws {
        let bytes = Self.tiny()
        #expect(bytes.count == Self.tinySize)
        #expect(Array(bytes[0..<8]) == Array("PTALLYSN".utf8))
        #expect(bytes[Self.pollOffset] == 1 && bytes[Self.pollOffset + 1] == UInt8(ascii: "p"))
        #expect(bytes[Self.flagOffset] == 1)
        #expect(bytes[Self.slotCountOffset] == 8 && bytes[Self.occupancyOffset].nonzeroBitCount == 1)
        #expect(bytes[Self.idLengthOffset] == 1 && bytes[Self.voterOffset] == UInt8(ascii: "v"))
        #expect(bytes[Self.ballotOptionOffset] == 1 && bytes[Self.ballotSeqOffset] == 3)
        let layout = try bytes.withUnsafeBytes { raw throws(SnapshotCodec.DecodeError) in try SnapshotCodec.layout(of: raw) }
        #expect(layout == SnapshotCodec.Layout(seq: 4, maxSeq: 5, pollCount: 1, sections: [.init(range: 68..<135, pollCount: 1, checksum: layout.sections.first?.checksum ?? 0)]))
    }

    @Test("every single-bit flip is detected, never trapping")
    func everyBitFlip() throws {
        let events = try randomHistory(seed: 7, events: 60, polls: 3, voters: 8)
        let bytes = SnapshotCodec.encode(try cutSnapshot(events, watermarks: [58, 60]))
        let layout = try bytes.withUnsafeBytes { raw throws(SnapshotCodec.DecodeError) in try SnapshotCodec.layout(of: raw) }
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                guard case .failure(let error) = decodeSnapshot(damaged) else {
                    Issue.record("flipping bit \(bit) of byte \(index) went unnoticed")
                    continue
                }
                if index < 12 {
                    #expect(error == .badMagic || error == .unsupportedVersion(SnapshotCodec.currentVersion ^ (UInt32(1) << (UInt32(index - 8) * 8 + UInt32(bit)))))
                } else if let section = layout.sections.firstIndex(where: { $0.range.contains(index) }) {
                    #expect(error == .sectionChecksumMismatch(section: section, offset: layout.sections[section].range.lowerBound,
                                                              stored: layout.sections[section].checksum, computed: error.computedChecksum),
                            "byte \(index): \(error)")
                } else {
                    #expect(error == .checksumMismatch(offset: bytes.count - 4, stored: error.storedChecksum, computed: error.computedChecksum), "byte \(index): \(error)")
                }
            }
        }
    }

    @Test("every truncation is detected, never trapping")
    func everyTruncation() {
        let bytes = Self.tiny()
        for length in 0..<bytes.count {
            guard case .failure(let error) = decodeSnapshot(Array(bytes.prefix(length))) else {
                Issue.record("a snapshot cut to \(length) bytes decoded")
                continue
            }
            #expect(error.offset <= length, "\(length): \(error)")
        }
        // And so is anything appended.
        #expect(decodeSnapshot(bytes + [0]).isFailure)
    }

    @Test("the checksum messages name the trailer's or the section's offset")
    func checksumMessage() {
        var header = Self.tiny()
        header[20] ^= 0x10
        guard case .failure(let error) = decodeSnapshot(header) else { Issue.record("undetected"); return }
        #expect(error.offset == Self.tinySize - 4)
        #expect(error.description.contains("checksum mismatch: the trailer at byte offset \(Self.tinySize - 4)"), "\(error)")

        var section = Self.tiny()
        section[Self.flagOffset] ^= 0x10
        guard case .failure(let error) = decodeSnapshot(section) else { Issue.record("undetected"); return }
        #expect(error.offset == Self.pollOffset)
        #expect(error.description.contains("checksum mismatch: section 0 at byte offset \(Self.pollOffset)"), "\(error)")
    }

    /// Damage that passes the checksum (a bug, or bytes written by something else) is still refused,
    /// with the offset of the field.
    @Test("fields that pass the checksum but are impossible", arguments: [
        ("open flag 2", flagOffset, [UInt8(2)], flagOffset),
        ("last seq after max seq", lastSeqOffset, [UInt8(6)], lastSeqOffset),
        ("last seq 0", lastSeqOffset, [UInt8(0)], lastSeqOffset),
        ("repeated option", secondOptionOffset + 1, [UInt8(ascii: "a")], secondOptionOffset),
        ("option index out of range", ballotOptionOffset, [UInt8(2)], ballotOptionOffset),
        ("ballot seq after the poll's last seq", ballotSeqOffset, [UInt8(5)], ballotSeqOffset),
        ("ballot seq 0", ballotSeqOffset, [UInt8(0)], ballotSeqOffset),
        ("voter id with a space", voterOffset, [UInt8(ascii: " ")], voterOffset),
        ("voter id of length 0", idLengthOffset, [UInt8(0)], idLengthOffset),
        ("voter id of length 65", idLengthOffset, [UInt8(65)], idLengthOffset),
        ("no slot occupied", occupancyOffset, [UInt8(0)], occupancyOffset),
        ("4 slots", slotCountOffset, [UInt8(4)], slotCountOffset),
        ("an even hash key", hashKeyOffset, [UInt8(2)], hashKeyOffset),
        ("more ballots than slots allow", ballotCountOffset, [UInt8(7)], ballotCountOffset),
        ("poll id too long", pollOffset, [UInt8(65)], pollOffset),
        ("header seq after max seq", 16, [UInt8(9)], 16),
        ("section count 0", 12, [UInt8(0)], 12),
        ("poll count 2", 32, [UInt8(2)], 32),
        ("section length one short", 48, [UInt8(66)], 134),
    ] as [(String, Int, [UInt8], Int)])
    func impossibleFields(_ name: String, at offset: Int, bytes replacement: [UInt8], expectedOffset: Int) {
        var bytes = Self.tiny()
        bytes.replaceSubrange(offset..<offset + replacement.count, with: replacement)
        guard case .failure(let error) = decodeSnapshot(resealed(bytes)) else {
            Issue.record("\(name): decoded")
            return
        }
        #expect(error.offset == expectedOffset, "\(name): \(error)")
    }

    @Test("a poll in two sections, a voter twice, a question that is not UTF-8")
    func duplicatesAndText() throws {
        var tally = Tally(poll: "p", options: ["a", "b"], question: "Q", seq: 2)
        tally.counts = [1, 0]
        var state = PollState(tally: tally)
        state.ballots = ["v": PollState.Ballot(option: 0, seq: 2)]
        let twice = SnapshotCodec.encode(Snapshot(seq: 2, maxSeq: 2, sections: [["p": state], ["p": state]]))
        #expect(decodeSnapshot(twice).failureDescription?.contains("two sections") == true)

        var voters = state
        voters.ballots.updateValue(PollState.Ballot(option: 1, seq: 1), forKey: "w")
        var bytes = SnapshotCodec.encode(Snapshot(seq: 2, maxSeq: 2, sections: [["p": voters]]))
        // Rename the second voter (in slot order) to the first's name: it is a second ballot of
        // that voter, or one away from where a lookup of it goes (which of the two depends on the
        // hash key; BallotTableImageTests has both on purpose).
        let ids = 68 + 2 + 1 + 8 + 1 + 4 + 2 + 1 + 4 + 4 + 4 + 24 + 1 + 2
        bytes[ids + 1] = bytes[ids]
        let refused = decodeSnapshot(resealed(bytes)).failureDescription ?? ""
        #expect(refused.contains("two ballots") || refused.contains("not where its table would look"), "\(refused)")

        var question = SnapshotCodec.encode(Snapshot(seq: 2, maxSeq: 2, sections: [["p": state]]))
        question[68 + 2 + 1 + 8 + 1 + 4 + 2] = 0xFF
        #expect(decodeSnapshot(resealed(question)).failureDescription?.contains("UTF-8") == true)
    }

    @Test("random damage with a valid checksum never traps")
    func randomDamageNeverTraps() throws {
        let events = try randomHistory(seed: 3, events: 120, polls: 4, voters: 10)
        let bytes = SnapshotCodec.encode(try cutSnapshot(events, watermarks: [115, 120]))
        var rng = SplitMix64(seed: 99)
        var refused = 0
        for _ in 0..<3000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<(bytes.count - 4), using: &rng)
                damaged[index] = UInt8.random(in: 0...255, using: &rng)
            }
            if decodeSnapshot(resealed(damaged)).isFailure { refused += 1 }
        }
        // Most random changes break some rule; the rest (a count or seq nudged within range) decode.
        #expect(refused > 1000)
    }
}

extension Result {
    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }

    var failureDescription: String? {
        if case .failure(let error) = self { return "\(error)" }
        return nil
    }
}

extension SnapshotCodec.DecodeError {
    var storedChecksum: UInt32 {
        if case .checksumMismatch(_, let stored, _) = self { return stored }
        return 0
    }

    var computedChecksum: UInt32 {
        if case .checksumMismatch(_, _, let computed) = self { return computed }
        if case .sectionChecksumMismatch(_, _, _, let computed) = self { return computed }
        return 0
    }
}
