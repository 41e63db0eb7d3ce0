/// Replies bound for their sinks, collected first and then handed over with one `deliver` per
/// sink: so that a connection whose batch was split over several shards hears from all of them
/// in one call, and sends one packet where it would send one per shard.
///
/// Sinks are kept in the order they first got a reply. A run of replies for the same sink (a
/// connection's pipelined batch) finds it without a lookup; another sink is found by a hash of
/// its identity.
struct ReplyDeliveries {
    private var entries: [(sink: any ReplySink, replies: [(slot: Int, text: String)])] = []
    private var positions: [ObjectIdentifier: Int] = [:]
    private var last: (sink: ObjectIdentifier, position: Int)?

    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ sink: any ReplySink, slot: Int, text: String) {
        let id = ObjectIdentifier(sink)
        let position: Int
        if let last, last.sink == id {
            position = last.position
        } else if let found = positions[id] {
            position = found
        } else {
            position = entries.count
            positions[id] = position
            var replies: [(slot: Int, text: String)] = []
            replies.reserveCapacity(16)
            entries.append((sink, replies))
        }
        last = (id, position)
        entries[position].replies.append((slot, text))
    }

    /// Hands every sink its replies, once each.
    func deliver() {
        for entry in entries { entry.sink.deliver(entry.replies) }
    }
}
