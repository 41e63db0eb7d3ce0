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

    /// Removes and returns the head slot if it is not pending.
    mutating func popHead() -> Slot? {
        guard head < slots.count else { return nil }
        if case .pending = slots[head] { return nil }
        let slot = slots[head]
        slots[head] = .pending
        head += 1
        base += 1
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
