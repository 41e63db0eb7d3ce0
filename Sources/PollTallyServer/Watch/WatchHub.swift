import Dispatch
import PollTallyCore
import Synchronization

/// Something that receives pushed `UPDATE` lines: a connection that sent `WATCH`.
protocol WatchSubscriber: AnyObject, Sendable {
    var id: Int { get }
    /// Hands over the newest update line of each changed poll; must only enqueue and return.
    func push(_ updates: [(poll: String, seq: UInt64, line: String)])
}

/// Fans durable tally changes out to watchers, coalesced: each interval, every poll that changed
/// is rendered once and its newest `UPDATE` line sent to each of its watchers. A storm of votes
/// therefore costs a watcher at most one line per poll per interval, and the hub keeps only the
/// newest tally per changed poll, never a queue.
///
/// State is a `Mutex`: shards publish from their queues and connections subscribe from theirs,
/// each holding it for a dictionary update. `@unchecked Sendable` covers only the timer, which
/// is created in `init` and touched again only by `stop`.
final class WatchHub: @unchecked Sendable {
    private struct State {
        var watchers: [String: [Int: any WatchSubscriber]] = [:]
        /// Subscribers of `WATCH *`: every poll, including polls created later.
        var everyPoll: [Int: any WatchSubscriber] = [:]
        var dirty: [String: Tally] = [:]
    }

    private let state = Mutex(State())
    private let timer: any DispatchSourceTimer

    init(interval: Duration) {
        let queue = DispatchQueue(label: "polltally.watch", qos: .userInitiated)
        timer = DispatchSource.makeTimerSource(queue: queue)
        let (seconds, attoseconds) = interval.components
        let nanos = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(max(nanos, 1_000_000)), leeway: .milliseconds(1))
        timer.setEventHandler { [weak self] in self?.flush() }
        timer.resume()
    }

    func stop() {
        timer.cancel()
    }

    /// Called by the projection actors with tallies that just became durable.
    func published(_ tallies: [Tally]) {
        state.withLock { state in
            for tally in tallies where state.watchers[tally.poll] != nil || !state.everyPoll.isEmpty {
                state.dirty[tally.poll] = tally
            }
        }
    }

    func watch(_ subscriber: any WatchSubscriber, polls: [String]) {
        state.withLock { state in
            for poll in polls { state.watchers[poll, default: [:]][subscriber.id] = subscriber }
        }
    }

    /// Subscribes `subscriber` to every poll, present and future.
    func watchEveryPoll(_ subscriber: any WatchSubscriber) {
        state.withLock { $0.everyPoll[subscriber.id] = subscriber }
    }

    /// Stops `subscriber` watching `polls`, or every poll (and `*`) when nil.
    func unwatch(_ subscriber: any WatchSubscriber, polls: [String]?) {
        state.withLock { state in
            if polls == nil { state.everyPoll[subscriber.id] = nil }
            for poll in polls ?? Array(state.watchers.keys) {
                state.watchers[poll]?[subscriber.id] = nil
                if state.watchers[poll]?.isEmpty == true { state.watchers[poll] = nil }
            }
        }
    }

    /// Connections watching at least one poll.
    var watcherCount: Int {
        state.withLock { state in
            var ids = Set(state.everyPoll.keys)
            for subscribers in state.watchers.values { ids.formUnion(subscribers.keys) }
            return ids.count
        }
    }

    private func flush() {
        let work: [(Tally, [any WatchSubscriber])] = state.withLock { state in
            guard !state.dirty.isEmpty else { return [] }
            let dirty = state.dirty
            state.dirty.removeAll(keepingCapacity: true)
            return dirty.values.map { tally in
                var subscribers = state.everyPoll
                if let named = state.watchers[tally.poll] { subscribers.merge(named) { first, _ in first } }
                return (tally, Array(subscribers.values))
            }
        }
        guard !work.isEmpty else { return }
        var bySubscriber: [Int: (any WatchSubscriber, [(poll: String, seq: UInt64, line: String)])] = [:]
        for (tally, subscribers) in work {
            let line = ReplyFormat.updateLine(tally)
            for subscriber in subscribers {
                bySubscriber[subscriber.id, default: (subscriber, [])].1.append((tally.poll, tally.lastSeq, line))
            }
        }
        for (subscriber, updates) in bySubscriber.values { subscriber.push(updates) }
    }
}
