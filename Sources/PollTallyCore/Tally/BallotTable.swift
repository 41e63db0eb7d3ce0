import CPUHints

/// Voter id → current ballot, for one poll: the index the state machine consults on every vote,
/// and what a restart brings back, slot for slot, from a snapshot.
///
/// An open-addressing hash table (linear probing, backward-shift deletion, at most 3/4 full) over
/// flat storage: 16-byte slots holding the ballot, an 8-bit tag of the hash and where the voter id
/// sits in one byte arena. Against `[String: Ballot]` (32-byte entries, a `String` per key) it
/// takes half the memory, and its flat layout is what a snapshot stores as it is.
///
/// Ids are hashed with `IDHash` (a few nanoseconds an id where `Hasher` costs some sixty), under
/// the key the table was created with: this process's key for a new table, the stored one for a
/// table a snapshot brought back. A snapshot stores the whole layout, slots, arena and key
/// (`BallotTable+Image`), so a restart checks it and copies it instead of inserting every entry.
///
/// Limit: the ids of a poll's current voters must fit in `keyCapacity` bytes (4 GiB: some 67
/// million voters of 64-byte ids). `canAdd` says whether one more fits; the state machine refuses
/// a new voter that does not (`TallyRule.pollFull`), so nothing a client sends reaches the
/// `precondition`s that guard the 32-bit offsets.
public struct BallotTable: Sendable {
    public typealias Ballot = PollState.Ballot

    /// One slot; `keyLength` 0 marks it empty (ids are 1–64 bytes).
    struct Slot: Equatable {
        var keyOffset: UInt32 = 0
        var keyLength: UInt8 = 0
        var tag: UInt8 = 0
        var option: UInt16 = 0
        var seq: UInt64 = 0
    }

    // The storage is internal, not private, only for `BallotTable+Image`, which writes and reads
    // it whole; nothing else in the module touches it.
    /// A power of two in count (or empty), never more than 3/4 occupied.
    var slots: [Slot] = []
    /// The ids' bytes; a slot refers to its id by offset and length.
    var keys: [UInt8] = []
    /// Arena bytes no slot refers to any more (ids of retracted votes).
    var garbage = 0
    /// What ids are hashed with, for the table's whole life (a hash computed once stays valid).
    let hashKey: IDHash.Key
    /// Bytes of ids the arena may hold: 32-bit offsets. Smaller only in tests.
    let keyCapacity: Int
    /// Voters with a ballot.
    public internal(set) var count = 0

    public init() {
        keyCapacity = Int(UInt32.max)
        hashKey = IDHash.processKey
    }

    /// An empty table whose ids are hashed with `hashKey`: one a snapshot brings back.
    init(hashKey: IDHash.Key) {
        keyCapacity = Int(UInt32.max)
        self.hashKey = hashKey
    }

    /// An empty table whose ids may take `keyCapacity` bytes: for tests of the limit.
    init(keyCapacity: Int) {
        self.keyCapacity = min(keyCapacity, Int(UInt32.max))
        hashKey = IDHash.processKey
    }

    /// An empty table that holds `count` ballots without growing its slots.
    public init(minimumCapacity count: Int) {
        keyCapacity = Int(UInt32.max)
        hashKey = IDHash.processKey
        if count > 0 { slots = Array(repeating: Slot(), count: Self.capacity(for: count)) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Whether a new voter whose id is `idBytes` long fits (after compacting away the ids of
    /// retracted votes, which an insert does when it must).
    public func canAdd(idBytes: Int) -> Bool {
        keys.count - garbage + idBytes <= keyCapacity
    }

    /// The ballot of `voter`, if they have one.
    public subscript(voter: String) -> Ballot? {
        var voter = voter
        return voter.withUTF8 { self[bytes: UnsafeRawBufferPointer($0)] }
    }

    /// The ballot of the voter whose id is `bytes`. Inlined: called on a table inside the array of
    /// a projection's polls, the table was copied (its buffers retained and released) for the call.
    @inline(__always)
    public subscript(bytes bytes: UnsafeRawBufferPointer) -> Ballot? {
        guard !slots.isEmpty else { return nil }
        let (index, found) = find(bytes, hash: hash(bytes))
        guard found else { return nil }
        let slot = slots[index]
        return Ballot(option: slot.option, seq: slot.seq)
    }

    /// Sets `voter`'s ballot; returns the one it replaces.
    @discardableResult
    public mutating func updateValue(_ ballot: Ballot, forKey voter: String) -> Ballot? {
        var voter = voter
        return voter.withUTF8 { updateValue(ballot, bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Sets the ballot of the voter whose id is `bytes` (a valid id); returns the one it replaces.
    @discardableResult
    public mutating func updateValue(_ ballot: Ballot, bytes: UnsafeRawBufferPointer) -> Ballot? {
        update(bytes: bytes, ballot, replace: true)
    }

    /// Adds a ballot for the voter whose id is `bytes` unless they have one; false when they do
    /// (the table is then unchanged). The bytes must be a valid id.
    public mutating func insertNew(bytes: UnsafeRawBufferPointer, _ ballot: Ballot) -> Bool {
        update(bytes: bytes, ballot, replace: false) == nil
    }

    /// Removes `voter`'s ballot; returns it.
    @discardableResult
    public mutating func removeValue(forKey voter: String) -> Ballot? {
        var voter = voter
        return voter.withUTF8 { removeValue(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Removes the ballot of the voter whose id is `bytes`; returns it.
    @discardableResult
    public mutating func removeValue(bytes: UnsafeRawBufferPointer) -> Ballot? {
        removeValue(bytes: bytes, hash: hash(bytes))
    }

    /// `removeValue(bytes:)` for a caller that already hashed the id (`hash(_:)`).
    @discardableResult
    mutating func removeValue(bytes: UnsafeRawBufferPointer, hash: UInt64) -> Ballot? {
        guard !slots.isEmpty else { return nil }
        let (index, found) = find(bytes, hash: hash)
        guard found else { return nil }
        let removed = slots[index]
        remove(at: index)
        return Ballot(option: removed.option, seq: removed.seq)
    }

    /// Starts loading the home slot of the voter whose id hashes to `hash` (`hash(_:)`) into
    /// the cache, so that a lookup of them a little later does not wait for memory. Changes
    /// nothing, yet is mutating so that it reaches the slots in place: a read of a table inside an
    /// array of polls retains the slots' storage, and replay's time went up 13% waiting on those
    /// atomic increments behind the prefetches.
    @inline(__always)
    mutating func prefetch(hash: UInt64) {
        guard !slots.isEmpty else { return }
        let index = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        slots.withUnsafeMutableBufferPointer { slots in
            if let base = slots.baseAddress { polltally_prefetch(base + index) }
        }
    }

    /// What `move(bytes:to:)` found.
    public enum Move: Equatable, Sendable {
        /// The voter already held a ballot for the same option; nothing changed.
        case unchanged(Ballot)
        /// The voter's ballot is now the new one; `from` is the one it replaced (nil: a first vote).
        case moved(from: Ballot?)
    }

    /// Gives the voter whose id is `bytes` (a valid id) `ballot`, unless they already hold one for
    /// the same option: a vote's one lookup, where `subscript` then `updateValue` would take two.
    public mutating func move(bytes: UnsafeRawBufferPointer, to ballot: Ballot) -> Move {
        move(bytes: bytes, hash: hash(bytes), to: ballot)
    }

    /// `move(bytes:to:)` for a caller that already hashed the id (`hash(_:)`): replay hashes
    /// each voter once, to prefetch its slot a few records ahead and then to apply the vote.
    mutating func move(bytes: UnsafeRawBufferPointer, hash: UInt64, to ballot: Ballot) -> Move {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let (index, found) = find(bytes, hash: hash)
        if found {
            let old = Ballot(option: slots[index].option, seq: slots[index].seq)
            if old.option == ballot.option { return .unchanged(old) }
            slots[index].option = ballot.option
            slots[index].seq = ballot.seq
            return .moved(from: old)
        }
        insert(bytes, hash: hash, at: index, ballot)
        return .moved(from: nil)
    }

    /// Calls `body` with each voter's id bytes and ballot, in no particular order.
    public func forEachRaw(_ body: (UnsafeRawBufferPointer, Ballot) throws -> Void) rethrows {
        try keys.withUnsafeBytes { arena in
            for slot in slots where slot.keyLength != 0 {
                let key = UnsafeRawBufferPointer(rebasing: arena[Int(slot.keyOffset)..<Int(slot.keyOffset) + Int(slot.keyLength)])
                try body(key, Ballot(option: slot.option, seq: slot.seq))
            }
        }
    }

    /// Every voter and ballot, in no particular order.
    public var entries: [(voter: String, ballot: Ballot)] {
        var result: [(voter: String, ballot: Ballot)] = []
        result.reserveCapacity(count)
        forEachRaw { key, ballot in result.append((String(decoding: key, as: UTF8.self), ballot)) }
        return result
    }

    /// The longest run of occupied slots: how far a lookup may have to probe (tests watch it).
    var longestRun: Int {
        var longest = 0
        var run = 0
        for slot in slots + slots.prefix(while: { $0.keyLength != 0 }) {
            if slot.keyLength != 0 { run += 1; longest = max(longest, run) } else { run = 0 }
        }
        return min(longest, slots.count)
    }

    /// The hash this table files the id `bytes` under (with its own key; see `IDHash`).
    @inline(__always)
    func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 { IDHash.hash(bytes, key: hashKey) }

    // MARK: - Internals

    private static func capacity(for count: Int) -> Int {
        var capacity = 8
        while capacity / 4 * 3 < count { capacity *= 2 }
        return capacity
    }

    @inline(__always)
    static func tag(_ hash: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash >> 56) }

    /// The slot holding `bytes`, or the empty slot where it would go.
    @inline(__always)
    private func find(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        let tag = Self.tag(hash)
        let length = UInt8(truncatingIfNeeded: bytes.count)
        return slots.withUnsafeBufferPointer { slots in
            keys.withUnsafeBytes { arena in
                var index = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[index]
                    if slot.keyLength == 0 { return (index, false) }
                    if slot.tag == tag, slot.keyLength == length, let base = arena.baseAddress, let key = bytes.baseAddress,
                       IDBytes.equal(base + Int(slot.keyOffset), key, count: bytes.count) {
                        return (index, true)
                    }
                    index = (index + 1) & mask
                }
            }
        }
    }

    private mutating func update(bytes: UnsafeRawBufferPointer, _ ballot: Ballot, replace: Bool) -> Ballot? {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let hash = self.hash(bytes)
        let (index, found) = find(bytes, hash: hash)
        if found {
            let old = slots[index]
            if replace {
                slots[index].option = ballot.option
                slots[index].seq = ballot.seq
            }
            return Ballot(option: old.option, seq: old.seq)
        }
        insert(bytes, hash: hash, at: index, ballot)
        return nil
    }

    /// Puts a new voter into the empty slot `index` that `find` returned for it.
    private mutating func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64, at index: Int, _ ballot: Ballot) {
        if keys.count + bytes.count > keyCapacity { compactKeys() }
        precondition(keys.count + bytes.count <= keyCapacity, "a poll's voter ids passed 4 GiB")
        let offset = keys.count
        keys.append(contentsOf: bytes)
        slots[index] = Slot(keyOffset: UInt32(offset), keyLength: UInt8(truncatingIfNeeded: bytes.count), tag: Self.tag(hash),
                            option: ballot.option, seq: ballot.seq)
        count += 1
    }

    /// Empties slot `index` and shifts back the entries after it whose home is at or before it,
    /// so every entry stays reachable from its home without tombstones.
    private mutating func remove(at index: Int) {
        garbage += Int(slots[index].keyLength)
        count -= 1
        let mask = slots.count - 1
        var hole = index
        var next = (index + 1) & mask
        while slots[next].keyLength != 0 {
            let home = Int(truncatingIfNeeded: homeHash(of: slots[next])) & mask
            // Move it into the hole unless its home lies cyclically within (hole, next].
            if (next - home) & mask >= (next - hole) & mask {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = Slot()
        if garbage > 4096 && garbage * 2 > keys.count { compactKeys() }
    }

    private func homeHash(of slot: Slot) -> UInt64 {
        keys.withUnsafeBytes { arena in
            IDHash.hash(UnsafeRawBufferPointer(rebasing: arena[Int(slot.keyOffset)..<Int(slot.keyOffset) + Int(slot.keyLength)]), key: hashKey)
        }
    }

    /// Doubles the slots (8 at first) and reinserts every entry; drops the arena's garbage too.
    private mutating func grow() {
        grow(to: max(8, slots.count * 2))
    }

    /// Moves every entry into `capacity` slots (a power of two, larger than now). The arena is
    /// rewritten only when it holds garbage; otherwise the ids stay where they are.
    private mutating func grow(to capacity: Int) {
        if garbage > 0 { compactKeys() }
        let old = slots
        slots = Self.emptySlots(capacity)
        let mask = slots.count - 1
        // Each entry's id is read to hash it again; the ids lie in arena order, the entries in
        // hash order, so ask for an id a few entries before it is needed.
        let lookahead = 8
        keys.withUnsafeBytes { arena in
            old.withUnsafeBufferPointer { old in
                slots.withUnsafeMutableBufferPointer { slots in
                    guard let base = arena.baseAddress else { return }
                    for position in old.indices {
                        if position + lookahead < old.count, old[position + lookahead].keyLength != 0 {
                            polltally_prefetch(base + Int(old[position + lookahead].keyOffset))
                        }
                        let slot = old[position]
                        guard slot.keyLength != 0 else { continue }
                        let key = UnsafeRawBufferPointer(start: base + Int(slot.keyOffset), count: Int(slot.keyLength))
                        var index = Int(truncatingIfNeeded: IDHash.hash(key, key: hashKey)) & mask
                        while slots[index].keyLength != 0 { index = (index + 1) & mask }
                        slots[index] = slot
                    }
                }
            }
        }
    }

    /// `count` empty slots in fresh memory, whose pages are asked for in one call
    /// (`polltally_populate`) rather than a fault a page as they are zeroed.
    static func emptySlots(_ count: Int) -> [Slot] {
        [Slot](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                polltally_populate(base, UInt(count * MemoryLayout<Slot>.stride))
                base.initialize(repeating: Slot(), count: count)
            }
            initialized = count
        }
    }

    /// Rewrites the arena with only the ids in use.
    private mutating func compactKeys() {
        var compacted: [UInt8] = []
        compacted.reserveCapacity(keys.count - garbage)
        keys.withUnsafeBytes { arena in
            for index in slots.indices where slots[index].keyLength != 0 {
                let start = Int(slots[index].keyOffset)
                slots[index].keyOffset = UInt32(compacted.count)
                compacted.append(contentsOf: arena[start..<start + Int(slots[index].keyLength)])
            }
        }
        keys = compacted
        garbage = 0
    }
}

extension BallotTable: Equatable {
    /// The same voters with the same ballots, whatever the layout.
    public static func == (lhs: BallotTable, rhs: BallotTable) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var same = true
        lhs.forEachRaw { key, ballot in
            if same && rhs[bytes: key] != ballot { same = false }
        }
        return same
    }
}

extension BallotTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, Ballot)...) {
        self.init(minimumCapacity: elements.count)
        for (voter, ballot) in elements { updateValue(ballot, forKey: voter) }
    }
}
