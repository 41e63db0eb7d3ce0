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

    /// Where one shard's polls sit on the board, by their position in the shard's projection
    /// (`PendingEffect.place`): each poll is found by its id once, and by index from then on. A
    /// dictionary lookup of the id per effect was a tenth of a vote's instructions.
    struct Places {
        /// The board's index for each place; -1 while not looked up yet.
        fileprivate var indices: [Int] = []

        fileprivate mutating func remember(_ index: Int, at place: Int) {
            if place >= indices.count { indices.append(contentsOf: repeatElement(-1, count: place + 1 - indices.count)) }
            indices[place] = index
        }

        fileprivate func index(at place: Int) -> Int? {
            place < indices.count && indices[place] >= 0 ? indices[place] : nil
        }
    }

    /// Applies newly durable effects, in log order; returns the tallies that changed, each once,
    /// in the order they first changed, or nothing when `report` (asked after the effects are in,
    /// under the board's lock) says nobody wants them: copying them out was most of the cost.
    ///
    /// The changed tallies are copied out once, after all effects: a copy taken after each one
    /// would share the poll's `counts` and make the next effect copy the array again.
    func apply(_ effects: ArraySlice<PendingEffect>, places: inout Places, report: () -> Bool = { true }) -> [Tally] {
        state.withLock { state in
            state.applies += 1
            var changed: [Int] = []
            // By index, reading each field in place: a copy of each effect cost a retain and a
            // release of its poll id.
            for i in effects.indices {
                let position: Int
                if case .created(let tally) = effects[i].effect {
                    position = state.put(tally)
                    places.remember(position, at: effects[i].place)
                } else {
                    if let known = places.index(at: effects[i].place) {
                        position = known
                    } else {
                        guard let found = state.index[effects[i].poll] else { continue }
                        position = found
                        places.remember(position, at: effects[i].place)
                    }
                    state.tallies[position].apply(effects[i].effect, seq: effects[i].seq)
                }
                if state.changedIn[position] != state.applies {
                    state.changedIn[position] = state.applies
                    changed.append(position)
                }
            }
            guard report() else { return [] }
            return changed.map { state.tallies[$0] }
        }
    }
}

/// An accepted event's effect on its poll, waiting for the event to become durable.
struct PendingEffect: Sendable {
    var seq: UInt64
    /// The poll's position in the shard's projection (see `TallyBoard.Places`).
    var place: Int
    var poll: String
    var effect: TallyEffect
}
