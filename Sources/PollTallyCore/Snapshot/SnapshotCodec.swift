/// The binary encoding of a `Snapshot`: one file, every byte of it under a CRC32C.
///
/// Layout (all integers little-endian):
/// ```
/// header   magic "PTALLYSN" (8) | version u32 | section count u32 | seq u64 | maxSeq u64 | poll count u64
/// table    per section: byte offset u64 | byte length u64 | poll count u64 | CRC32C u32 of its bytes
/// sections per poll: poll id8 | open u8 (1 open, 0 closed) | lastSeq u64
///                    | option count u8 | options id8… | question u16-length UTF-8
///                    | ballot count u32 | slot count u32 | id bytes u32 | hash key 3 × u64
///                    | occupancy (slot count / 8 bytes) | id lengths u8… | ids | option indexes u16… | seqs u64…
/// trailer  CRC32C u32 of the header and the table
/// id8 = length u8 (1–64) then the id's bytes
/// ```
/// The ballots are the poll's `BallotTable` as it was laid out, column by column in slot order
/// (`BallotTable+Image`): a restart checks each one and writes it back to its slot. Counts are not
/// stored: they are derived from the ballots, so they cannot disagree with them. Version 1 (the
/// ballots as a list, reinserted on load) is not read: `SnapshotStore` reports it as an older
/// format, which a server passes over for the log and replaces with its next snapshots.
///
/// Decoding checks the checksums first (the trailer's, then each section's before it is read),
/// then every length, id, option index and seq, so a file that is damaged, truncated or simply
/// wrong is refused with the byte offset of the problem and never traps. Sections are independent
/// byte ranges with checksums of their own, so `decodeSection` can run on one core each, checksum
/// included: a single checksum over 140 MB was 15 ms on one core before any decoding could start.
public enum SnapshotCodec {
    public static let magic: [UInt8] = Array("PTALLYSN".utf8)
    public static let currentVersion: UInt32 = 2
    /// Bytes before the section table.
    public static let headerSize = 40
    /// Bytes of one section table entry.
    public static let sectionEntrySize = 28
    /// Bytes of the trailing checksum.
    public static let trailerSize = 4
    /// The most sections a file may declare (the server writes 8 per projection actor, and
    /// `serve --shards` is at most 256).
    public static let maxSections = 4096

    /// Smallest encodings, used to refuse counts that cannot fit in the bytes left.
    static let minPollBytes = 2 + 1 + 8 + 1 + 2 * 2 + 2 + 4 + 4 + 4 + 24
    static let minBallotBytes = 2 + 2 + 8

    /// Why bytes are not a snapshot. Every case knows the byte offset it refers to.
    public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        /// A field runs past the end of the bytes (the offset of the field).
        case truncated(offset: Int)
        /// The file does not start with "PTALLYSN".
        case badMagic
        case unsupportedVersion(UInt32)
        /// The trailer (at `offset`) does not match the header and table.
        case checksumMismatch(offset: Int, stored: UInt32, computed: UInt32)
        /// Section `section`'s bytes, from `offset`, do not match the checksum the table gives them.
        case sectionChecksumMismatch(section: Int, offset: Int, stored: UInt32, computed: UInt32)
        /// The bytes pass the checksum but do not describe valid state.
        case invalid(offset: Int, reason: String)

        /// The byte offset the problem was found at.
        public var offset: Int {
            switch self {
            case .truncated(let offset), .checksumMismatch(let offset, _, _), .sectionChecksumMismatch(_, let offset, _, _),
                 .invalid(let offset, _): return offset
            case .badMagic: return 0
            case .unsupportedVersion: return 8
            }
        }

        public var description: String {
            switch self {
            case .truncated(let offset):
                return "snapshot is truncated: a field at byte offset \(offset) runs past the end"
            case .badMagic:
                return "not a PollTally snapshot (bad magic at byte offset 0)"
            case .unsupportedVersion(let version):
                return "unsupported snapshot format version \(version) at byte offset 8"
            case .checksumMismatch(let offset, let stored, let computed):
                return "snapshot checksum mismatch: the trailer at byte offset \(offset) says \(hex(stored)), the header and table give \(hex(computed))"
            case .sectionChecksumMismatch(let section, let offset, let stored, let computed):
                return "snapshot checksum mismatch: section \(section) at byte offset \(offset): the table says \(hex(stored)), its bytes give \(hex(computed))"
            case .invalid(let offset, let reason):
                return "invalid snapshot at byte offset \(offset): \(reason)"
            }
        }

        private func hex(_ value: UInt32) -> String {
            let digits = String(value, radix: 16)
            return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
        }
    }

    /// Where everything is, once the header, checksum and section table have been verified.
    public struct Layout: Sendable, Equatable {
        public var seq: UInt64
        public var maxSeq: UInt64
        public var pollCount: Int
        public var sections: [Section]

        /// One independently decodable section.
        public struct Section: Sendable, Equatable {
            /// Its bytes in the file.
            public var range: Range<Int>
            public var pollCount: Int
            /// The CRC32C its bytes must have.
            public var checksum: UInt32
        }
    }

    // MARK: - Encoding

    /// The file bytes of `snapshot`. A snapshot with no sections is written with one empty section.
    public static func encode(_ snapshot: Snapshot) -> [UInt8] {
        let sections = snapshot.sections.isEmpty ? [[:]] : snapshot.sections
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + sections.count * sectionEntrySize + estimatedSize(sections) + trailerSize)
        bytes.append(contentsOf: magic)
        bytes.appendLittleEndian(currentVersion)
        bytes.appendLittleEndian(UInt32(sections.count))
        bytes.appendLittleEndian(snapshot.seq)
        bytes.appendLittleEndian(snapshot.maxSeq)
        bytes.appendLittleEndian(UInt64(sections.reduce(0) { $0 + $1.count }))
        let table = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: sections.count * sectionEntrySize))
        for (index, section) in sections.enumerated() {
            let start = bytes.count
            for (poll, state) in section { encode(poll: poll, state, into: &bytes) }
            let entry = table + index * sectionEntrySize
            bytes.storeLittleEndian(UInt64(start), at: entry)
            bytes.storeLittleEndian(UInt64(bytes.count - start), at: entry + 8)
            bytes.storeLittleEndian(UInt64(section.count), at: entry + 16)
            let checksum = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            bytes.storeLittleEndian(checksum, at: entry + 24)
        }
        bytes.appendLittleEndian(CRC32C.checksum(bytes[..<(table + sections.count * sectionEntrySize)]))
        return bytes
    }

    private static func estimatedSize(_ sections: [[String: PollState]]) -> Int {
        sections.reduce(0) { total, section in
            section.values.reduce(total) { $0 + 160 + $1.tally.options.count * 16 + $1.ballots.count * 30 }
        }
    }

    private static func encode(poll: String, _ state: PollState, into bytes: inout [UInt8]) {
        let tally = state.tally
        id(poll, into: &bytes)
        bytes.append(tally.isOpen ? 1 : 0)
        bytes.appendLittleEndian(tally.lastSeq)
        bytes.append(UInt8(truncatingIfNeeded: tally.options.count))
        for option in tally.options { id(option, into: &bytes) }
        let question = tally.question.utf8
        bytes.appendLittleEndian(UInt16(truncatingIfNeeded: question.count))
        bytes.append(contentsOf: question)
        state.ballots.appendImage(to: &bytes)
    }

    private static func id(_ value: String, into bytes: inout [UInt8]) {
        let utf8 = value.utf8
        bytes.append(UInt8(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }

    // MARK: - Decoding

    /// Decodes a whole snapshot on the calling thread.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Snapshot {
        let layout = try layout(of: bytes)
        var sections: [[String: PollState]] = []
        sections.reserveCapacity(layout.sections.count)
        for index in layout.sections.indices {
            sections.append(try decodeSection(index, of: layout, in: bytes))
        }
        return try assemble(layout, sections: sections)
    }

    /// Decodes a whole snapshot held in an array.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Snapshot {
        let result: Result<Snapshot, DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(DecodeError) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Verifies the header, the section table and the trailer's checksum over both (each section's
    /// own checksum is `decodeSection`'s to verify).
    public static func layout(of bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Layout {
        guard bytes.count >= headerSize + trailerSize else {
            if bytes.count >= magic.count, !bytes.prefix(magic.count).elementsEqual(magic) { throw .badMagic }
            throw .truncated(offset: bytes.count)
        }
        guard bytes.prefix(magic.count).elementsEqual(magic) else { throw .badMagic }
        var reader = Reader(bytes, offset: magic.count)
        let version = try reader.u32()
        guard version == currentVersion else { throw .unsupportedVersion(version) }
        let trailer = bytes.count - trailerSize
        let countOffset = reader.offset
        let sectionCount = Int(try reader.u32())
        // The count is read before the checksum that covers it, to know how far the table goes:
        // a damaged count either fails the check below or lands the checksum on other bytes.
        let tableEnd = headerSize + min(max(sectionCount, 0), maxSections) * sectionEntrySize
        let stored = bytes.loadUnaligned(fromByteOffset: trailer, as: UInt32.self).littleEndian
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<min(tableEnd, trailer)]))
        guard stored == computed else { throw .checksumMismatch(offset: trailer, stored: stored, computed: computed) }
        guard tableEnd <= trailer else { throw .truncated(offset: trailer) }
        guard sectionCount >= 1, sectionCount <= maxSections else {
            throw .invalid(offset: countOffset, reason: "section count \(sectionCount) is not 1–\(maxSections)")
        }
        let seqOffset = reader.offset
        let seq = try reader.u64()
        let maxSeq = try reader.u64()
        guard seq <= maxSeq else { throw .invalid(offset: seqOffset, reason: "seq \(seq) is after max seq \(maxSeq)") }
        let pollCountOffset = reader.offset
        let pollCount = try reader.count(max: trailer / minPollBytes, at: pollCountOffset, what: "poll count")

        var sections: [Layout.Section] = []
        sections.reserveCapacity(sectionCount)
        var next = tableEnd
        var polls = 0
        for index in 0..<sectionCount {
            let entry = reader.offset
            let start = try reader.count(max: trailer, at: entry, what: "section \(index) offset")
            let length = try reader.count(max: trailer, at: entry + 8, what: "section \(index) length")
            let sectionPolls = try reader.count(max: length / minPollBytes, at: entry + 16, what: "section \(index) poll count")
            let checksum = try reader.u32()
            guard start == next, length <= trailer - start else {
                throw .invalid(offset: entry, reason: "section \(index) at \(start)+\(length) does not follow byte \(next) within the file")
            }
            sections.append(Layout.Section(range: start..<start + length, pollCount: sectionPolls, checksum: checksum))
            next = start + length
            polls += sectionPolls
        }
        guard next == trailer else {
            throw .invalid(offset: next, reason: "the sections end at byte \(next) but the checksum is at byte \(trailer)")
        }
        guard polls == pollCount else {
            throw .invalid(offset: pollCountOffset, reason: "poll count \(pollCount) but the sections hold \(polls)")
        }
        return Layout(seq: seq, maxSeq: maxSeq, pollCount: pollCount, sections: sections)
    }

    /// Decodes section `index` of a verified layout: poll id → state, every field checked.
    public static func decodeSection(_ index: Int, of layout: Layout, in bytes: UnsafeRawBufferPointer) throws(DecodeError) -> [String: PollState] {
        let section = layout.sections[index]
        let end = section.range.upperBound
        guard end <= bytes.count else { throw .truncated(offset: section.range.lowerBound) }
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[section.range]))
        guard computed == section.checksum else {
            throw .sectionChecksumMismatch(section: index, offset: section.range.lowerBound, stored: section.checksum, computed: computed)
        }
        var reader = Reader(UnsafeRawBufferPointer(rebasing: bytes[..<end]), offset: section.range.lowerBound)
        var polls = [String: PollState](minimumCapacity: section.pollCount)
        for _ in 0..<section.pollCount {
            let start = reader.offset
            let state = try decodePoll(&reader, maxSeq: layout.maxSeq)
            guard polls.updateValue(state, forKey: state.tally.poll) == nil else {
                throw .invalid(offset: start, reason: "poll \(state.tally.poll) appears twice")
            }
        }
        guard reader.offset == end else {
            throw .invalid(offset: reader.offset, reason: "\(end - reader.offset) unexpected bytes after the last poll of section \(index)")
        }
        return polls
    }

    /// The snapshot of a verified layout and its decoded sections; checks that no poll is in two sections.
    public static func assemble(_ layout: Layout, sections: [[String: PollState]]) throws(DecodeError) -> Snapshot {
        guard sections.count == layout.sections.count else {
            throw .invalid(offset: 12, reason: "\(layout.sections.count) sections declared, \(sections.count) decoded")
        }
        if sections.count > 1 {
            var seen = Set<String>(minimumCapacity: layout.pollCount)
            for (index, section) in sections.enumerated() {
                for poll in section.keys where !seen.insert(poll).inserted {
                    throw .invalid(offset: layout.sections[index].range.lowerBound, reason: "poll \(poll) appears in two sections")
                }
            }
        }
        return Snapshot(seq: layout.seq, maxSeq: layout.maxSeq, sections: sections)
    }

    private static func decodePoll(_ reader: inout Reader, maxSeq: UInt64) throws(DecodeError) -> PollState {
        let poll = try reader.id()
        let flagOffset = reader.offset
        let flag = try reader.u8()
        guard flag <= 1 else { throw .invalid(offset: flagOffset, reason: "poll \(poll): open flag \(flag) is not 0 or 1") }
        let lastSeqOffset = reader.offset
        let lastSeq = try reader.u64()
        guard lastSeq >= 1, lastSeq <= maxSeq else {
            throw .invalid(offset: lastSeqOffset, reason: "poll \(poll): last seq \(lastSeq) is not 1–\(maxSeq)")
        }
        let optionCountOffset = reader.offset
        let optionCount = Int(try reader.u8())
        guard optionCount >= 2 else { throw .invalid(offset: optionCountOffset, reason: "poll \(poll) has \(optionCount) options") }
        var options: [String] = []
        options.reserveCapacity(optionCount)
        for _ in 0..<optionCount {
            let optionOffset = reader.offset
            let option = try reader.id()
            guard !options.contains(option) else { throw .invalid(offset: optionOffset, reason: "poll \(poll) repeats option \(option)") }
            options.append(option)
        }
        let questionOffset = reader.offset
        let questionLength = Int(try reader.u16())
        let raw = try reader.bytes(questionLength)
        guard let question = String(validating: raw, as: UTF8.self) else {
            throw .invalid(offset: questionOffset, reason: "poll \(poll): the question is not valid UTF-8")
        }
        var counts = [Int](repeating: 0, count: optionCount)
        let ballots = try decodeBallots(&reader, poll: poll, optionCount: optionCount, lastSeq: lastSeq, counts: &counts)
        var tally = Tally(poll: poll, options: options, question: question, seq: lastSeq)
        tally.counts = counts
        tally.isOpen = flag == 1
        var state = PollState(tally: tally)
        state.ballots = ballots
        return state
    }

    /// A poll's ballot table from its image (`BallotTable+Image`), every entry checked; each
    /// ballot is counted into `counts`.
    private static func decodeBallots(_ reader: inout Reader, poll: String, optionCount: Int, lastSeq: UInt64,
                                      counts: inout [Int]) throws(DecodeError) -> BallotTable {
        let ballotCountOffset = reader.offset
        let ballotCount = Int(try reader.u32())
        let slotCount = Int(try reader.u32())
        let idBytesOffset = reader.offset
        let idBytes = Int(try reader.u32())
        let keyOffset = reader.offset
        let key = IDHash.Key(s0: try reader.u64(), s1: try reader.u64(), s2: try reader.u64())
        guard ballotCount <= reader.remaining / minBallotBytes else { throw .truncated(offset: ballotCountOffset) }
        guard slotCount % 8 == 0 else {
            throw .invalid(offset: ballotCountOffset + 4, reason: "poll \(poll): \(slotCount) slots is not a multiple of 8")
        }
        let occupancyOffset = reader.offset
        let occupancy = try reader.bytes(slotCount / 8)
        let lengthsOffset = reader.offset
        let lengths = try reader.bytes(ballotCount)
        let idsOffset = reader.offset
        let ids = try reader.bytes(idBytes)
        let optionsOffset = reader.offset
        let options = try reader.bytes(ballotCount * 2)
        let seqsOffset = reader.offset
        let seqs = try reader.bytes(ballotCount * 8)
        let image = BallotTable.Image(slotCount: slotCount, hashKey: key, occupancy: occupancy, lengths: lengths, ids: ids,
                                      options: options, seqs: seqs)
        do throws(BallotTable.ImageFault) {
            return try BallotTable(image: image, optionCount: optionCount, lastSeq: lastSeq, counts: &counts)
        } catch {
            /// The offset of ballot `index`'s voter id, and the id.
            func voter(_ index: Int) -> (offset: Int, id: String) {
                let start = lengths.prefix(index).reduce(0) { $0 + Int($1) }
                let length = Int(lengths[index])
                let id = start + length <= ids.count ? String(decoding: UnsafeRawBufferPointer(rebasing: ids[start..<start + length]), as: UTF8.self) : "?"
                return (idsOffset + start, id)
            }
            switch error {
            case .hashKey:
                throw .invalid(offset: keyOffset, reason: "poll \(poll): its table's hash key is not three odd numbers")
            case .shape:
                throw .invalid(offset: ballotCountOffset, reason: "poll \(poll): \(ballotCount) ballots do not fit a table of \(slotCount) slots")
            case .idLength(let index):
                throw .invalid(offset: lengthsOffset + index, reason: "poll \(poll): voter id length \(lengths[index]) is not 1–\(Identifier.maxLength)")
            case .idBytes:
                throw .invalid(offset: idBytesOffset, reason: "poll \(poll): the voter ids take \(idBytes) bytes, their lengths say otherwise")
            case .invalidID(let index):
                throw .invalid(offset: voter(index).offset, reason: "poll \(poll): invalid voter id of \(lengths[index]) bytes")
            case .option(let index):
                throw .invalid(offset: optionsOffset + index * 2, reason: "poll \(poll): voter \(voter(index).id) holds an option index past its \(optionCount) options")
            case .seq(let index):
                throw .invalid(offset: seqsOffset + index * 8, reason: "poll \(poll): voter \(voter(index).id) has a vote whose seq is not 1–\(lastSeq)")
            case .occupancy:
                throw .invalid(offset: occupancyOffset, reason: "poll \(poll): the occupied slots are not its \(ballotCount) ballots")
            case .misplaced(let index):
                let (offset, id) = voter(index)
                throw .invalid(offset: offset, reason: "poll \(poll): voter \(id) is not where its table would look for it")
            case .duplicate(let index):
                let (offset, id) = voter(index)
                throw .invalid(offset: offset, reason: "poll \(poll): voter \(id) has two ballots")
            }
        }
    }

    /// Bounds-checked little-endian reads that throw `truncated` with the field's offset.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int

        init(_ bytes: UnsafeRawBufferPointer, offset: Int) {
            self.bytes = bytes
            self.offset = offset
        }

        var remaining: Int { bytes.count - offset }

        @inline(__always)
        mutating func load<T: FixedWidthInteger>(_: T.Type) throws(DecodeError) -> T {
            let size = MemoryLayout<T>.size
            guard remaining >= size else { throw .truncated(offset: offset) }
            let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += size
            return T(littleEndian: value)
        }

        mutating func u8() throws(DecodeError) -> UInt8 { try load(UInt8.self) }
        mutating func u16() throws(DecodeError) -> UInt16 { try load(UInt16.self) }
        mutating func u32() throws(DecodeError) -> UInt32 { try load(UInt32.self) }
        mutating func u64() throws(DecodeError) -> UInt64 { try load(UInt64.self) }

        /// A u64 count or offset that must be ≤ `max` (and so fit an `Int`).
        mutating func count(max: Int, at offset: Int, what: String) throws(DecodeError) -> Int {
            let value = try u64()
            guard value <= UInt64(Swift.max(0, max)) else { throw .invalid(offset: offset, reason: "\(what) \(value) cannot fit in the file") }
            return Int(value)
        }

        @inline(__always)
        mutating func bytes(_ count: Int) throws(DecodeError) -> UnsafeRawBufferPointer {
            guard remaining >= count else { throw .truncated(offset: offset) }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
            offset += count
            return slice
        }

        /// An id8: length 1–64 then bytes of `Identifier`.
        @inline(__always)
        mutating func id() throws(DecodeError) -> String {
            String(decoding: try idBytes(), as: UTF8.self)
        }

        /// The bytes of an id8, checked.
        @inline(__always)
        mutating func idBytes() throws(DecodeError) -> UnsafeRawBufferPointer {
            let start = offset
            let length = Int(try u8())
            guard length >= 1, length <= Identifier.maxLength else { throw .invalid(offset: start, reason: "id length \(length) is not 1–\(Identifier.maxLength)") }
            let raw = try bytes(length)
            guard Identifier.isValid(raw) else { throw .invalid(offset: start, reason: "invalid id of \(length) bytes") }
            return raw
        }
    }
}
