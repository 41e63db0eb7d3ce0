import CPUHints

/// A ballot table's layout as a snapshot stores it, and its rebuilding from those bytes.
///
/// The image is the table itself, column by column: which slots are occupied, then for each
/// occupied slot in slot order its id's length, the ids back to back (the arena, compacted),
/// each ballot's option and each ballot's seq, with the hash key the slots were placed under.
/// Reading it back is one pass in slot order that checks every entry and writes it to the slot it
/// had; nothing is inserted, so a restart reads memory front to back instead of waiting on a
/// cache miss per voter.
///
/// Nothing is trusted: every id, option and seq is checked, every entry must sit where a lookup
/// finds it (no empty slot between its home and it) and no voter may appear twice.
extension BallotTable {
    /// The columns of one table's image, as views into the bytes they were read from.
    struct Image {
        /// 0 (no ballots) or a power of two of at least 8, at least 4/3 the ballots.
        var slotCount: Int
        var hashKey: IDHash.Key
        /// Bit `i % 8` of byte `i / 8` is set when slot `i` holds a ballot: `slotCount / 8` bytes.
        var occupancy: UnsafeRawBufferPointer
        /// One byte per ballot, in slot order: the length of its voter id.
        var lengths: UnsafeRawBufferPointer
        /// The voter ids, back to back, in slot order.
        var ids: UnsafeRawBufferPointer
        /// A little-endian u16 per ballot: the option's index.
        var options: UnsafeRawBufferPointer
        /// A little-endian u64 per ballot: the seq of the event that cast it.
        var seqs: UnsafeRawBufferPointer

        var count: Int { lengths.count }
    }

    /// Why an image is not a table. `ballot` is the index of the ballot (in slot order) at fault.
    enum ImageFault: Error, Equatable {
        /// A secret of the hash key is even (`IDHash.Key.isValid`).
        case hashKey
        /// The slot count is not 0 (no ballots) or a power of two from 8 with room to spare, or a
        /// column's size does not follow from it and the ballot count.
        case shape
        case idLength(ballot: Int)
        /// The lengths do not add up to the ids' byte count.
        case idBytes
        case invalidID(ballot: Int)
        case option(ballot: Int)
        case seq(ballot: Int)
        /// The occupied slots are not as many as the ballots.
        case occupancy
        /// The ballot is not where a lookup of its voter would find it.
        case misplaced(ballot: Int)
        /// The ballot's voter has a ballot earlier in the table.
        case duplicate(ballot: Int)
    }

    /// The hash key, slot count and columns of this table, appended to `bytes`:
    /// `ballot count u32 | slot count u32 | id bytes u32 | key 3 × u64 | occupancy | lengths | ids | options u16… | seqs u64…`.
    func appendImage(to bytes: inout [UInt8]) {
        let slotCount = count == 0 ? 0 : slots.count
        let idBytes = keys.count - garbage
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: count))
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: slotCount))
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: idBytes))
        bytes.appendLittleEndian(hashKey.s0)
        bytes.appendLittleEndian(hashKey.s1)
        bytes.appendLittleEndian(hashKey.s2)
        guard slotCount > 0 else { return }
        bytes.reserveCapacity(bytes.count + slotCount / 8 + count * 11 + idBytes)
        var byte: UInt8 = 0
        for (index, slot) in slots.enumerated() {
            if slot.keyLength != 0 { byte |= 1 << UInt8(index & 7) }
            if index & 7 == 7 {
                bytes.append(byte)
                byte = 0
            }
        }
        for slot in slots where slot.keyLength != 0 { bytes.append(slot.keyLength) }
        keys.withUnsafeBytes { arena in
            for slot in slots where slot.keyLength != 0 {
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: arena[Int(slot.keyOffset)..<Int(slot.keyOffset) + Int(slot.keyLength)]))
            }
        }
        for slot in slots where slot.keyLength != 0 { bytes.appendLittleEndian(slot.option) }
        for slot in slots where slot.keyLength != 0 { bytes.appendLittleEndian(slot.seq) }
    }

    /// The table an image describes, every entry checked; adds each ballot to `counts` (one per
    /// option, `optionCount` of them). Options must be below `optionCount`, seqs in `1...lastSeq`.
    init(image: Image, optionCount: Int, lastSeq: UInt64, counts: inout [Int]) throws(ImageFault) {
        self.init(hashKey: image.hashKey)
        let count = image.count
        guard image.hashKey.isValid else { throw .hashKey }
        guard count > 0 else {
            guard image.slotCount == 0, image.occupancy.isEmpty, image.ids.isEmpty else { throw .shape }
            return
        }
        guard image.slotCount >= 8, image.slotCount & (image.slotCount - 1) == 0, count * 4 <= image.slotCount * 3,
              image.occupancy.count == image.slotCount / 8, image.options.count == count * 2, image.seqs.count == count * 8,
              image.ids.count <= Int(UInt32.max), counts.count == optionCount else { throw .shape }
        // The lengths; then every byte of the ids, all at once (every id is then valid, its
        // length being 1–64); then the slots. The walk starts after the first empty slot, so
        // that every run of occupied slots is met from its start (a run may wrap past the end).
        var idBytes = 0
        for ballot in 0..<count {
            let length = Int(image.lengths[ballot])
            guard length >= 1, length <= Identifier.maxLength else { throw .idLength(ballot: ballot) }
            idBytes += length
        }
        guard idBytes == image.ids.count else { throw .idBytes }
        if !Self.allAllowed(image.ids), let bad = image.ids.firstIndex(where: { !Identifier.isAllowed($0) }) {
            var ballot = 0, end = 0
            while end + Int(image.lengths[ballot]) <= bad { end += Int(image.lengths[ballot]); ballot += 1 }
            throw .invalidID(ballot: ballot)
        }
        var occupied = 0
        for byte in image.occupancy { occupied += byte.nonzeroBitCount }
        guard occupied == count else { throw .occupancy }
        var firstEmpty = 0
        while image.occupancy[firstEmpty >> 3] & (1 << UInt8(firstEmpty & 7)) != 0 { firstEmpty += 1 }
        var firstBallot = 0
        for slot in 0..<firstEmpty where image.occupancy[slot >> 3] & (1 << UInt8(slot & 7)) != 0 { firstBallot += 1 }
        var firstOffset = 0
        for index in 0..<firstBallot { firstOffset += Int(image.lengths[index]) }

        // Fresh memory, its pages asked for in one call each (`polltally_populate`).
        keys = [UInt8](unsafeUninitializedCapacity: image.ids.count) { buffer, initialized in
            if let base = buffer.baseAddress, let ids = image.ids.baseAddress {
                polltally_populate(base, UInt(image.ids.count))
                UnsafeMutableRawPointer(base).copyMemory(from: ids, byteCount: image.ids.count)
            }
            initialized = image.ids.count
        }
        slots = Self.emptySlots(image.slotCount)
        let walk = Walk(image: image, optionCount: optionCount, lastSeq: lastSeq, key: hashKey, firstEmpty: firstEmpty,
                        firstBallot: firstBallot, firstOffset: firstOffset)
        let fault = keys.withUnsafeBytes { arena in
            slots.withUnsafeMutableBufferPointer { slots in
                counts.withUnsafeMutableBufferPointer { counts in
                    guard let arena = arena.baseAddress, let slots = slots.baseAddress, let counts = counts.baseAddress else { return ImageFault?.some(.shape) }
                    return walk.place(into: slots, arena: arena, counts: counts)
                }
            }
        }
        if let fault { throw fault }
        self.count = count
    }

    /// 1 for each byte an id may hold, 0 for the others.
    private static let allowedBytes: [UInt8] = (0...255).map { Identifier.isAllowed(UInt8($0)) ? 1 : 0 }

    /// Whether every byte of `bytes` may be in an id: a table lookup a byte and no branch, where
    /// `Identifier.isAllowed`'s ranges branch on each.
    private static func allAllowed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        allowedBytes.withUnsafeBufferPointer { table in
            var all: UInt8 = 1
            for byte in bytes { all &= table[Int(byte)] }
            return all == 1
        }
    }

    /// The walk over an image's slots, with everything it reads in locals of its own (in the
    /// initializer's closures they lived on the stack, a load and store at every use).
    private struct Walk {
        let image: Image
        let optionCount: Int
        let lastSeq: UInt64
        let key: IDHash.Key
        let firstEmpty: Int, firstBallot: Int, firstOffset: Int

        /// Checks each ballot's option, seq and place and writes it to its slot (the slots are
        /// empty, the ids in `arena` checked already); nil when every one is right.
        ///
        /// The occupied slots are found 64 at a time, a set bit each (an empty slot's branch,
        /// taken at random, cost more than the rest of the walk); `position` counts slots from
        /// `firstEmpty` on, so a slot extends the run when it follows the previous one.
        func place(into slots: UnsafeMutablePointer<Slot>, arena: UnsafeRawPointer, counts: UnsafeMutablePointer<Int>) -> ImageFault? {
            let count = image.count, slotCount = image.slotCount, mask = slotCount - 1
            let occupancy = image.occupancy, lengths = image.lengths, options = image.options, seqs = image.seqs
            let wordBits = min(64, slotCount), words = slotCount / wordBits
            let startWord = firstEmpty / wordBits, startBit = firstEmpty % wordBits
            var ballot = firstBallot, offset = firstOffset
            var run = 0, previous = -2
            for step in 0...words {
                let word = (startWord + step) % words
                var bits: UInt64 = 0
                for byte in 0..<wordBits / 8 { bits |= UInt64(occupancy[word * (wordBits / 8) + byte]) << (byte * 8) }
                // The first visit of the start word takes the slots from `firstEmpty` on, the last
                // one (the same word again) the slots before it.
                if step == 0 { bits &= ~0 << UInt64(startBit) }
                if step == words { bits &= startBit == 0 ? 0 : ~0 >> UInt64(64 - startBit) }
                while bits != 0 {
                    let bit = bits.trailingZeroBitCount
                    bits &= bits &- 1
                    let slot = word &* wordBits &+ bit
                    let position = step &* wordBits &+ bit
                    run = position == previous &+ 1 ? run &+ 1 : 0
                    previous = position
                    if ballot == count {
                        ballot = 0
                        offset = 0
                    }
                    let length = Int(lengths[ballot])
                    let option = UInt16(littleEndian: options.loadUnaligned(fromByteOffset: ballot &* 2, as: UInt16.self))
                    guard Int(option) < optionCount else { return .option(ballot: ballot) }
                    let seq = UInt64(littleEndian: seqs.loadUnaligned(fromByteOffset: ballot &* 8, as: UInt64.self))
                    guard seq >= 1, seq <= lastSeq else { return .seq(ballot: ballot) }
                    let hash = IDHash.hash(UnsafeRawBufferPointer(start: arena + offset, count: length), key: key)
                    let home = Int(truncatingIfNeeded: hash) & mask
                    guard (slot &- home) & mask <= run else { return .misplaced(ballot: ballot) }
                    let tag = BallotTable.tag(hash)
                    var probe = home
                    while probe != slot {
                        let other = slots[probe]
                        if other.tag == tag, Int(other.keyLength) == length,
                           IDBytes.equal(arena + Int(other.keyOffset), arena + offset, count: length) {
                            return .duplicate(ballot: ballot)
                        }
                        probe = (probe + 1) & mask
                    }
                    slots[slot] = Slot(keyOffset: UInt32(truncatingIfNeeded: offset), keyLength: UInt8(truncatingIfNeeded: length),
                                       tag: tag, option: option, seq: seq)
                    counts[Int(option)] += 1
                    offset += length
                    ballot += 1
                }
            }
            return nil
        }
    }
}
