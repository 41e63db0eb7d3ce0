import Synchronization

/// Something following the log with `TAIL`: told whenever the durable head moves.
protocol TailSubscriber: AnyObject, Sendable {
    var id: Int { get }
    /// The log is durable further than before; must only schedule work and return.
    func logMoved()
}

/// The `TAIL` subscribers. Tails read the events themselves from the log (the log is their
/// buffer), so the hub only wakes them when the durable head moves.
///
/// A `Mutex`-protected dictionary: connections add and remove themselves from their queues and the
/// log writer's thread reads it after every durable batch.
final class TailHub: Sendable {
    private let subscribers = Mutex<[Int: any TailSubscriber]>([:])

    func add(_ subscriber: any TailSubscriber) {
        subscribers.withLock { $0[subscriber.id] = subscriber }
    }

    func remove(_ subscriber: any TailSubscriber) {
        subscribers.withLock { $0[subscriber.id] = nil }
    }

    var count: Int { subscribers.withLock { $0.count } }

    func logMoved() {
        let current = subscribers.withLock { $0.isEmpty ? [] : Array($0.values) }
        for subscriber in current { subscriber.logMoved() }
    }
}
