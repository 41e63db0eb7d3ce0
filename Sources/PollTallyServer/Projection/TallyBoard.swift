import PollTallyCore
import Synchronization

/// The durable tallies: every poll's `Tally` as of the last event on stable storage. `TALLY`,
/// `RESULTS`, `POLLS` and `WATCH` read only this, so nothing shows before it is acknowledged.
///
/// A `Mutex` rather than an actor: connections read it synchronously from their own queues at the
/// moment a reply is due, and each access is a dictionary lookup.
final class TallyBoard: Sendable {
    /// The tallies in an array, found by id through `index`: a vote's effect then costs one
    /// dictionary lookup and changes its tally in place (a `Dictionary<String, Tally>` moved each
    /// tally out and back in, hashing the id twice, which was a sixth of a vote's instructions).
    private struct Tallies {
        var index: [String: Int] = [:]
        var tallies: [Tally] = []
        /// For each tally, the last `apply` that changed it: so that each is reported once.
        var changedIn: [UInt64] = []
        var applies: UInt64 = 0

        mutating func put(_ tally: Tally) -> Int {
            if let position = index[tally.poll] {
                tallies[position] = tally
                return position
            }
            index[tally.poll] = tallies.count
            tallies.append(tally)
            changedIn.append(0)
            return tallies.count - 1
        }
    }

    private let state: Mutex<Tallies>

    init(_ initial: [Tally]) {
        var tallies = Tallies()
        for tally in initial { _ = tallies.put(tally) }
        state = Mutex(tallies)
    }

    func tally(_ poll: String) -> Tally? {
        state.withLock { state in state.index[poll].map { state.tallies[$0] } }
    }

    /// Every tally, in poll-id order.
    func all() -> [Tally] {
        state.withLock { $0.tallies }.sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
    }

    var count: Int { state.withLock { $0.tallies.count } }

    /// Applies newly durable effects, in log order; returns the tallies that changed, each once,
    /// in the order they first changed.
    ///
    /// The changed tallies are copied out once, after all effects: a copy taken after each one
    /// would share the poll's `counts` and make the next effect copy the array again.
    func apply(_ effects: ArraySlice<PendingEffect>) -> [Tally] {
        state.withLock { state in
            state.applies += 1
            var changed: [Int] = []
            var lastPoll: String?
            var position = -1
            for pending in effects {
                if case .created(let tally) = pending.effect {
                    position = state.put(tally)
                } else {
                    if pending.poll != lastPoll {
                        guard let found = state.index[pending.poll] else { continue }
                        position = found
                    }
                    state.tallies[position].apply(pending.effect, seq: pending.seq)
                }
                lastPoll = pending.poll
                if state.changedIn[position] != state.applies {
                    state.changedIn[position] = state.applies
                    changed.append(position)
                }
            }
            return changed.map { state.tallies[$0] }
        }
    }
}

/// An accepted event's effect on its poll, waiting for the event to become durable.
struct PendingEffect: Sendable {
    var seq: UInt64
    var poll: String
    var effect: TallyEffect
}
