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
