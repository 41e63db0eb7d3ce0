import Dispatch
import PollTallyCore
import Synchronization

/// Fans durable tally changes out to watchers, coalesced: each interval, every poll that changed
/// is rendered once and its newest `UPDATE` line offered to each of its watchers, which write it
/// straight to an idle watcher's socket from this queue (see `PushGate`). A storm of votes
/// therefore costs a watcher at most one line per poll per interval, and the hub keeps only the
/// newest tally per changed poll, never a queue.
///
/// Fan-out never takes more than a tenth of a core (`cpuShare`): a tick that took `d` to write
/// (some 7 µs a watcher, nearly all of it the kernel's `send`) is followed by none for `9 d`, so
/// with thousands of watchers lines come every few intervals instead of every one, and the votes
/// that make them keep their speed. Each line is still the newest tally, and the last one after
/// the votes stop still equals `TALLY`.
///
/// State is a `Mutex`: shards publish from their queues and connections subscribe from theirs,
/// each holding it for a dictionary update. `@unchecked Sendable` covers the timer, which is
/// created in `init` and touched again only by `stop`, and `quietUntil`, touched only by ticks,
/// which run one at a time on the timer's serial queue.
final class WatchHub: @unchecked Sendable {
    private struct State {
        var watchers: [String: [Int: any WatchSubscriber]] = [:]
        /// Subscribers of `WATCH *`: every poll, including polls created later.
        var everyPoll: [Int: any WatchSubscriber] = [:]
        var dirty: [String: Tally] = [:]
    }

    /// The share of one core fan-out may take.
    static let cpuShare = 0.1

    private let state = Mutex(State())
    /// Whether anyone watches any poll: read by every shard after each batch of durable effects,
    /// so an atomic beside the lock rather than the lock (set under the lock, by every change).
    private let anyWatcher = Atomic<Bool>(false)
    private let timer: any DispatchSourceTimer
    /// No tick writes before this uptime (ns): the quiet time the last tick earned.
    private var quietUntil: UInt64 = 0

    /// Uptime in nanoseconds; tests give their own.
    private let now: @Sendable () -> UInt64

    /// `interval` is `--watch-interval`; the timer is started at once.
    init(interval: Duration, now: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.now = now
        let queue = DispatchQueue(label: "polltally.watch", qos: .userInitiated)
        timer = DispatchSource.makeTimerSource(queue: queue)
        let (seconds, attoseconds) = interval.components
        let nanos = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(max(nanos, 1_000_000)), leeway: .milliseconds(1))
        timer.setEventHandler { [weak self] in self?.tick() }
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
            noteWatchers(state)
        }
    }

    /// Subscribes `subscriber` to every poll, present and future.
    func watchEveryPoll(_ subscriber: any WatchSubscriber) {
        state.withLock { state in
            state.everyPoll[subscriber.id] = subscriber
            noteWatchers(state)
        }
    }

    /// Whether any connection watches any poll. A shard that moved the board and then reads
    /// false may keep its changes to itself: a watcher subscribing later reads the board after
    /// subscribing, so it sees them (`Connection.answer`, `.watch`).
    var hasWatchers: Bool { anyWatcher.load(ordering: .sequentiallyConsistent) }

    private func noteWatchers(_ state: State) {
        anyWatcher.store(!state.watchers.isEmpty || !state.everyPoll.isEmpty, ordering: .sequentiallyConsistent)
    }

    /// Stops `subscriber` watching `polls`, or every poll (and `*`) when nil.
    func unwatch(_ subscriber: any WatchSubscriber, polls: [String]?) {
        state.withLock { state in
            if polls == nil { state.everyPoll[subscriber.id] = nil }
            for poll in polls ?? Array(state.watchers.keys) {
                state.watchers[poll]?[subscriber.id] = nil
                if state.watchers[poll]?.isEmpty == true { state.watchers[poll] = nil }
            }
            noteWatchers(state)
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

    /// Flushes unless the last flush's quiet time runs on; then sets the next quiet time. Called by
    /// the timer; tests call it directly (one at a time, as the timer does).
    func tick() {
        let start = now()
        guard start >= quietUntil else { return }
        flush()
        let took = now() - start
        quietUntil = start + UInt64(Double(took) / Self.cpuShare)
    }

    /// One tick: renders each changed poll's line once and offers it to the poll's watchers.
    /// With one changed poll (the common case) every watcher is offered the same one-element
    /// array; with several, each watcher gets its polls' lines in one offer (one write).
    private func flush() {
        let work: [(Tally, [any WatchSubscriber])] = state.withLock { state in
            guard !state.dirty.isEmpty else { return [] }
            let dirty = state.dirty
            state.dirty.removeAll(keepingCapacity: true)
            return dirty.values.map { tally in
                let named = state.watchers[tally.poll] ?? [:]
                if state.everyPoll.isEmpty { return (tally, Array(named.values)) }
                return (tally, Array(state.everyPoll.merging(named) { first, _ in first }.values))
            }
        }
        let updates = work.map { tally, _ in
            WatchUpdate(poll: tally.poll, seq: tally.lastSeq, line: Array((ReplyFormat.updateLine(tally) + "\n").utf8))
        }
        if updates.count == 1 {
            for subscriber in work[0].1 { subscriber.offer(updates) }
            return
        }
        var bySubscriber: [Int: (any WatchSubscriber, [WatchUpdate])] = [:]
        for (index, (_, subscribers)) in work.enumerated() {
            for subscriber in subscribers {
                bySubscriber[subscriber.id, default: (subscriber, [])].1.append(updates[index])
            }
        }
        for (subscriber, updates) in bySubscriber.values { subscriber.offer(updates) }
    }
}
