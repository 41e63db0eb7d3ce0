
/// Spreads polls over the projection actors.
///
/// A poll's shard is fixed by an FNV-1a hash of its id, stable across runs, so one poll's
/// commands always meet the same actor and are applied in the order they were accepted.
final class ShardRouter: Sendable {
    let shards: [PollShard]

    init(shards: [PollShard]) {
        self.shards = shards
    }

    /// The index of the shard that owns `poll`, for `count` shards.
    static func shardIndex(of poll: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in poll.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int(hash % UInt64(count))
    }

    func shard(for poll: String) -> PollShard {
        shards[Self.shardIndex(of: poll, count: shards.count)]
    }
}
