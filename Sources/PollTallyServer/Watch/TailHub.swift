import Synchronization

/// Something following the log with `TAIL`: told whenever the durable head moves.
protocol TailSubscriber: AnyObject, Sendable {
    var id: Int { get }
    /// The log is durable further than before; must only schedule work and return.
    func logMoved()
}

/// The `TAIL` subscribers. Tails read the events themselves from the log (the log is their
/// buffer), so the hub only wakes them when the durable head moves; a parked one (its client
/// takes nothing) is not woken until it is added again.
///
/// A `Mutex`-protected dictionary: connections add, park and remove themselves from their queues
/// and the log writer's thread reads it after every durable batch.
final class TailHub: Sendable {
    private struct Members {
        var awake: [Int: any TailSubscriber] = [:]
        var parked: Set<Int> = []
    }

    private let members = Mutex(Members())

    /// Wakes `subscriber` on every head move from now on (again, if it was parked).
    func add(_ subscriber: any TailSubscriber) {
        members.withLock { members in
            members.awake[subscriber.id] = subscriber
            members.parked.remove(subscriber.id)
        }
    }

    /// Stops waking `subscriber` until it is added again; it still counts as a tail.
    func park(_ subscriber: any TailSubscriber) {
        members.withLock { members in
            if members.awake.removeValue(forKey: subscriber.id) != nil { members.parked.insert(subscriber.id) }
        }
    }

    func remove(_ subscriber: any TailSubscriber) {
        members.withLock { members in
            members.awake[subscriber.id] = nil
            members.parked.remove(subscriber.id)
        }
    }

    /// Tails, parked ones included.
    var count: Int { members.withLock { $0.awake.count + $0.parked.count } }

    func logMoved() {
        let current = members.withLock { $0.awake.isEmpty ? [] : Array($0.awake.values) }
        for subscriber in current { subscriber.logMoved() }
    }
}
