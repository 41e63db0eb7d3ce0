import PollTallyCore
import Synchronization

/// The durable tallies: every poll's `Tally` as of the last event on stable storage. `TALLY`,
/// `RESULTS`, `POLLS` and `WATCH` read only this, so nothing shows before it is acknowledged.
///
/// A `Mutex` rather than an actor: connections read it synchronously from their own queues at the
/// moment a reply is due, and each access is a dictionary lookup.
final class TallyBoard: Sendable {
    private let tallies: Mutex<[String: Tally]>

    init(_ initial: [Tally]) {
        tallies = Mutex(Dictionary(uniqueKeysWithValues: initial.map { ($0.poll, $0) }))
    }

    func tally(_ poll: String) -> Tally? {
        tallies.withLock { $0[poll] }
    }

    /// Every tally, in poll-id order.
    func all() -> [Tally] {
        tallies.withLock { Array($0.values) }.sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
    }

    var count: Int { tallies.withLock { $0.count } }

    /// Applies newly durable effects, in log order; returns the tallies that changed.
    ///
    /// The changed tallies are copied out once, after all effects: a copy taken after each one
    /// would share the poll's `counts` and make the next effect copy the array again.
    func apply(_ effects: ArraySlice<PendingEffect>) -> [Tally] {
        tallies.withLock { tallies in
            var changed: [String] = []
            var lastPoll: String?
            for pending in effects {
                switch pending.effect {
                case .created(let tally):
                    tallies[pending.poll] = tally
                default:
                    tallies[pending.poll]?.apply(pending.effect, seq: pending.seq)
                }
                if pending.poll != lastPoll {
                    changed.append(pending.poll)
                    lastPoll = pending.poll
                }
            }
            var seen = Set<String>()
            return changed.compactMap { poll in seen.insert(poll).inserted ? tallies[poll] : nil }
        }
    }
}

/// An accepted event's effect on its poll, waiting for the event to become durable.
struct PendingEffect: Sendable {
    var seq: UInt64
    var poll: String
    var effect: TallyEffect
}
