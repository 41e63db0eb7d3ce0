import PollTallyCore

/// One connection's replies, in request order. Requests are numbered as they are read; a reply
/// may be filled in any order (shards answer when the log is durable) but leaves only from the head,
/// so pipelined clients get exactly one reply per request, in order.
struct ReplySlots {
    /// A request's reply, or what is still needed to make it.
    enum Slot {
        /// A projection actor has not answered yet.
        case pending
        /// The reply text, one or more lines without the final newline.
        case ready(String)
        /// A request answered by the connection itself when it reaches the head, after every
        /// earlier reply is out: reads then see the client's own earlier writes.
        case atHead(Request)
    }

    private var slots: [Slot] = []
    private var head = 0
    /// The number of the slot at `head`.
    private var base = 0
    /// The slot numbers of reads whose requests went to more than one shard, oldest first, from
    /// `splitHead` on (an index rather than `removeFirst`, which would move the rest each time).
    private var splitReads: [Range<Int>] = []
    private var splitHead = 0

    /// Requests whose reply has not left yet.
    var count: Int { slots.count - head }
    var isEmpty: Bool { head == slots.count }

    /// Adds a slot; returns its number.
    mutating func append(_ slot: Slot) -> Int {
        slots.append(slot)
        return base + slots.count - head - 1
    }

    /// Fills slot `number` with its reply.
    mutating func fill(_ number: Int, with text: String) {
        let index = number - base + head
        guard index >= head, index < slots.count, case .pending = slots[index] else { return }
        slots[index] = .ready(text)
    }

    /// Whether the head slot is due (not pending).
    var headIsDue: Bool {
        guard head < slots.count else { return false }
        if case .pending = slots[head] { return false }
        return true
    }

    /// Marks the slots numbered `numbers` as one read whose replies come from several shards.
    mutating func markSplitRead(_ numbers: Range<Int>) {
        splitReads.append(numbers)
    }

    /// Whether the due replies at the head should wait for the rest of their read: the head
    /// belongs to a read split over several shards, and a later reply of that read is pending.
    /// It is in a shard's hands, so it comes (under `--fsync always` at the latest with the sync
    /// after its own), and then the whole read leaves in one write rather than one per shard.
    /// Only the head's own read counts: replies never wait for requests read after them.
    var headWaitsForItsRead: Bool {
        guard splitHead < splitReads.count, splitReads[splitHead].contains(base), headIsDue else { return false }
        let read = splitReads[splitHead]
        for number in (base + 1)..<read.upperBound {
            if case .pending = slots[number - base + head] { return true }
        }
        return false
    }

    /// Removes and returns the head slot if it is not pending.
    mutating func popHead() -> Slot? {
        guard head < slots.count else { return nil }
        if case .pending = slots[head] { return nil }
        // Moved out rather than copied (a copy of the enum retained its payload, then the
        // overwrite released it again).
        var slot = Slot.pending
        swap(&slot, &slots[head])
        head += 1
        base += 1
        while splitHead < splitReads.count, splitReads[splitHead].upperBound <= base { splitHead += 1 }
        if splitHead == splitReads.count {
            splitReads.removeAll(keepingCapacity: true)
            splitHead = 0
        } else if splitHead >= 64 && splitHead * 2 >= splitReads.count {
            splitReads.removeFirst(splitHead)
            splitHead = 0
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: slots.capacity <= 4096)
            head = 0
        } else if head >= 1024 && head * 2 >= slots.count {
            slots.removeFirst(head)
            head = 0
        }
        return slot
    }
}
