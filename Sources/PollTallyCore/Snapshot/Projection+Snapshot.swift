extension Projection {
    /// A projection holding `polls` as restored from a snapshot.
    public init(limits: Limits = Limits(), restoring polls: [String: PollState]) {
        self.init(limits: limits)
        for state in polls.values { add(state) }
    }

    /// Whether `event` is already part of this state, which was restored from a snapshot: its poll
    /// exists and has seen an event at or after `event.seq`.
    ///
    /// Exact for a state restored from a `Snapshot` and moved only by events after its `seq`, in
    /// log order: the snapshot holds, for each poll, exactly that poll's events up to the poll's
    /// `lastSeq`, so a later event of the poll is covered if and only if its seq is ≤ `lastSeq`;
    /// an event of a poll the snapshot does not hold (its creation, and everything after) is not.
    public func covers(_ event: Event) -> Bool {
        guard let state = state(of: event.body.poll) else { return false }
        return state.tally.lastSeq >= event.seq
    }

    /// Applies `event`, read from the log after a snapshot's `seq`, unless the snapshot already
    /// holds it (`covers`). Returns the effect, or nil for a covered event.
    ///
    /// Throws the rule an uncovered event breaks, as `apply` does; the state is then unchanged.
    @discardableResult
    public mutating func applyUnlessCovered(_ event: Event) throws(TallyRule) -> TallyEffect? {
        if covers(event) { return nil }
        return try apply(event)
    }
}
