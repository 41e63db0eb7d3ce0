/// Everything known about one poll: its tally plus each voter's current ballot.
public struct PollState: Sendable, Equatable {
    /// A voter's current vote: the option's index and the seq of the event that cast it.
    public struct Ballot: Sendable, Equatable {
        public var option: UInt16
        public var seq: UInt64
    }

    public internal(set) var tally: Tally
    /// Voter id → current ballot. Voters without a current vote are absent.
    public internal(set) var ballots = BallotTable()

    public init(tally: Tally) {
        self.tally = tally
    }

    /// The ballot of `voter`, if they have a current vote.
    public func ballot(of voter: String) -> Ballot? { ballots[voter] }

    mutating func cast(voter: String, option: Int, seq: UInt64) -> TallyEffect {
        var voter = voter
        return voter.withUTF8 { cast(voter: UnsafeRawBufferPointer($0), option: option, seq: seq) }
    }

    mutating func cast(voter: UnsafeRawBufferPointer, option: Int, seq: UInt64) -> TallyEffect {
        let previous = ballots.updateValue(Ballot(option: UInt16(option), seq: seq), bytes: voter)
        let effect = TallyEffect.voteMoved(from: previous.map { Int($0.option) }, to: option)
        tally.apply(effect, seq: seq)
        return effect
    }

    mutating func retract(voter: String, seq: UInt64) -> TallyEffect? {
        guard let previous = ballots.removeValue(forKey: voter) else { return nil }
        let effect = TallyEffect.voteMoved(from: Int(previous.option), to: nil)
        tally.apply(effect, seq: seq)
        return effect
    }

    mutating func close(seq: UInt64) -> TallyEffect {
        tally.apply(.closed, seq: seq)
        return .closed
    }

    /// What `apply(voter:hash:option:seq:unlessCovered:)` did.
    enum RecordOutcome {
        case applied
        /// `unlessCovered` and the poll has already seen this seq: nothing done.
        case covered
        /// Refused, nothing changed: the poll is closed, the vote the voter's current one,
        /// (a retraction) the voter has no vote, or a new voter does not fit.
        case closed, unchanged, noVote, full
    }

    /// Applies a logged vote for the option at index `option` (nil: a retraction) by the voter
    /// whose id is `voter` (hashed: `ballots.hash(_:)`), event `seq`, from id bytes:
    /// `Projection.apply(record:)`'s work on this poll, done in place.
    mutating func apply(voter: UnsafeRawBufferPointer, hash: UInt64, option: Int?, seq: UInt64, unlessCovered: Bool) -> RecordOutcome {
        if unlessCovered, tally.lastSeq >= seq { return .covered }
        guard tally.isOpen else { return .closed }
        guard let option else {
            guard let previous = ballots.removeValue(bytes: voter, hash: hash) else { return .noVote }
            tally.apply(.voteMoved(from: Int(previous.option), to: nil), seq: seq)
            return .applied
        }
        if !ballots.canAdd(idBytes: voter.count), ballots[bytes: voter] == nil { return .full }
        switch ballots.move(bytes: voter, hash: hash, to: Ballot(option: UInt16(option), seq: seq)) {
        case .unchanged:
            return .unchanged
        case .moved(let previous):
            tally.apply(.voteMoved(from: previous.map { Int($0.option) }, to: option), seq: seq)
            return .applied
        }
    }
}
