import PollTallyCore

/// Spreads polls over the projection actors.
///
/// A poll's shard is fixed by `PollPartition` (a hash of its id, stable across runs), so one
/// poll's commands always meet the same actor and are applied in the order they were accepted.
final class ShardRouter: Sendable {
    let shards: [PollShard]

    init(shards: [PollShard]) {
        self.shards = shards
    }

    /// The index of the shard that owns `poll`, for `count` shards.
    static func shardIndex(of poll: String, count: Int) -> Int {
        PollPartition.index(of: poll, count: count)
    }

    /// `shardIndex(of:count:)` for a poll id given as bytes (a `VOTE` read by `VoteLine`).
    static func shardIndex(of poll: UnsafeRawBufferPointer, count: Int) -> Int {
        PollPartition.index(of: poll, count: count)
    }

    func shard(for poll: String) -> PollShard {
        shards[Self.shardIndex(of: poll, count: shards.count)]
    }
}
