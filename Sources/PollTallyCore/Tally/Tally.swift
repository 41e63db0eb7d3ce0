/// The public face of one poll: its options, the count of current votes for each, open or closed,
/// and the seq of the last event applied to it. This is what `TALLY`, `RESULTS`, `POLLS` and
/// `WATCH` show, and what `replay` prints.
public struct Tally: Sendable, Equatable {
    public let poll: String
    /// Options in creation order.
    public let options: [String]
    /// The question, or "" when the poll was created without one.
    public let question: String
    /// Current votes per option, in the order of `options`.
    public internal(set) var counts: [Int]
    public internal(set) var isOpen: Bool
    /// Seq of the last event applied to this poll.
    public internal(set) var lastSeq: UInt64

    public init(poll: String, options: [String], question: String, seq: UInt64) {
        self.poll = poll
        self.options = options
        self.question = question
        self.counts = Array(repeating: 0, count: options.count)
        self.isOpen = true
        self.lastSeq = seq
    }

    /// Voters with a current vote.
    public var total: Int { counts.reduce(0, +) }

    /// Applies the effect of the event `seq` on this poll.
    public mutating func apply(_ effect: TallyEffect, seq: UInt64) {
        switch effect {
        case .created:
            break
        case .voteMoved(let from, let to):
            if let from { counts[from] -= 1 }
            if let to { counts[to] += 1 }
        case .closed:
            isOpen = false
        }
        lastSeq = seq
    }
}

/// What one event does to a poll's `Tally`: the part of the state machine that reads need.
///
/// The projection actors compute it when they accept a command, and apply it to the durable
/// tallies only once the event is on disk; `replay` applies it at once. Both use
/// `Tally.apply(_:seq:)`, so they cannot disagree.
public enum TallyEffect: Sendable, Equatable {
    /// The poll now exists, as in `tally`.
    case created(Tally)
    /// One vote left option `from` (nil: the voter had none) for option `to` (nil: retracted).
    case voteMoved(from: Int?, to: Int?)
    /// The poll stopped taking votes.
    case closed
}
