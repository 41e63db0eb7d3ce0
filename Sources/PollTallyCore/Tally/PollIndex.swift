/// Poll id → position, for a projection's polls: found from the id's bytes, so applying a logged
/// vote never makes a `String`.
///
/// Open addressing with linear probing over (hash, position) slots, at most half full; the ids'
/// bytes sit in one arena so a hit is confirmed without touching the polls themselves. Polls
/// are never removed, so there is no deletion.
struct PollIndex: Sendable {
    private struct Slot {
        var hash: UInt64 = 0
        /// Position of the poll, or -1 when the slot is empty.
        var position = -1
    }

    private var slots = [Slot](repeating: Slot(), count: 16)
    /// Each position's id: `keys[starts[p]..<starts[p + 1]]`.
    private var keys: [UInt8] = []
    private var starts: [Int] = [0]

    var count: Int { starts.count - 1 }

    /// The position of the poll whose id is `bytes`.
    @inline(__always)
    func position(of bytes: UnsafeRawBufferPointer) -> Int? {
        let hash = IDHash.hash(bytes)
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[index]
            if slot.position < 0 { return nil }
            if slot.hash == hash, matches(bytes, slot.position) { return slot.position }
            index = (index + 1) & mask
        }
    }

    func position(of poll: String) -> Int? {
        var poll = poll
        return poll.withUTF8 { position(of: UnsafeRawBufferPointer($0)) }
    }

    /// Adds `poll` at the next position, `count`; the id must not be present.
    mutating func append(_ poll: String) {
        if (count + 1) * 2 > slots.count { grow() }
        keys.append(contentsOf: poll.utf8)
        starts.append(keys.count)
        let position = count - 1
        let hash = keys.withUnsafeBytes { IDHash.hash(UnsafeRawBufferPointer(rebasing: $0[starts[position]..<starts[position + 1]])) }
        place(Slot(hash: hash, position: position))
    }

    private func matches(_ bytes: UnsafeRawBufferPointer, _ position: Int) -> Bool {
        let start = starts[position]
        guard starts[position + 1] - start == bytes.count else { return false }
        return keys.withUnsafeBytes { arena in
            guard let base = arena.baseAddress, let key = bytes.baseAddress else { return bytes.isEmpty }
            return IDBytes.equal(base + start, key, count: bytes.count)
        }
    }

    private mutating func place(_ slot: Slot) {
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: slot.hash) & mask
        while slots[index].position >= 0 { index = (index + 1) & mask }
        slots[index] = slot
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        for slot in old where slot.position >= 0 { place(slot) }
    }
}
