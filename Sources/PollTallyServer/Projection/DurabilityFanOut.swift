import PollTallyLog

/// Hears from the log writer how far the log is durable and passes it on: to every projection
/// actor (which moves the durable tallies and releases replies) and to the `TAIL` subscribers.
final class DurabilityFanOut: DurabilityObserver {
    private let router: ShardRouter
    private let tails: TailHub

    init(router: ShardRouter, tails: TailHub) {
        self.router = router
        self.tails = tails
    }

    func logIsDurable(upTo seq: UInt64) {
        for shard in router.shards { shard.enqueue { $0.logChanged() } }
        tails.logMoved()
    }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {
        for shard in router.shards { shard.enqueue { $0.logChanged() } }
        tails.logMoved()
    }
}
