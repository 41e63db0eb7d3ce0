/// All projection state at one cut of the log: every poll with its options, question, open or
/// closed, the seq of its last event, and each voter's ballot (option and seq). Restart loads the
/// newest valid one and applies only the log after it.
///
/// A snapshot is taken from the live projection actors without stopping them, so it is a cut
/// with two edges rather than one:
/// - every event with seq ≤ `seq` is in it;
/// - no event with seq > `maxSeq` is in it;
/// - between the two, a poll holds exactly its events with seq ≤ its `Tally.lastSeq`.
///
/// So the log after `seq` is applied with `Projection.applyUnlessCovered`, which skips an event
/// whose poll already shows it. The polls are kept in `sections` (the server writes eight per
/// projection actor) so that a restart can decode them in parallel.
public struct Snapshot: Sendable, Equatable {
    /// Every event with seq ≤ `seq` is in the snapshot; the file is named after it.
    public var seq: UInt64
    /// No event with seq > `maxSeq` is in the snapshot: the log must reach at least this far for
    /// the snapshot to be usable.
    public var maxSeq: UInt64
    /// Poll id → state, in groups that are encoded and decoded independently. A poll appears in
    /// exactly one section.
    public var sections: [[String: PollState]]

    public init(seq: UInt64, maxSeq: UInt64, sections: [[String: PollState]]) {
        self.seq = seq
        self.maxSeq = maxSeq
        self.sections = sections
    }

    /// The number of polls.
    public var pollCount: Int { sections.reduce(0) { $0 + $1.count } }

    /// The number of current ballots over all polls.
    public var ballotCount: Int {
        sections.reduce(0) { total, section in section.values.reduce(total) { $0 + $1.ballots.count } }
    }
}
