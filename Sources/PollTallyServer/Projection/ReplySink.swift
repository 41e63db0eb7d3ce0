/// Where a projection actor sends finished replies: a connection, addressed by reply slot.
///
/// `deliver` is called from the actor's queue and must only hand the replies over (to the
/// connection's own queue); slots may arrive in any order and the sink puts them back in order.
protocol ReplySink: AnyObject, Sendable {
    func deliver(_ replies: [(slot: Int, text: String)])
}

/// Replies bound for their sinks, collected first and then handed over with one `deliver` per
/// sink: so that a connection whose batch was split over several shards hears from all of them
/// in one call, and sends one packet where it would send one per shard.
struct ReplyDeliveries {
    private var bySink: [ObjectIdentifier: (sink: any ReplySink, replies: [(slot: Int, text: String)])] = [:]

    var isEmpty: Bool { bySink.isEmpty }

    mutating func add(_ sink: any ReplySink, slot: Int, text: String) {
        bySink[ObjectIdentifier(sink), default: (sink, [])].replies.append((slot, text))
    }

    /// Hands every sink its replies, once each.
    func deliver() {
        for (sink, replies) in bySink.values { sink.deliver(replies) }
    }
}
