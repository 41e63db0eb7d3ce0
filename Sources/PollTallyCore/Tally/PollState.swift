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

    func optionIndex(_ option: String) -> Int? {
        tally.options.firstIndex(of: option)
    }

    /// The index of the option whose id is `bytes`.
    func optionIndex(bytes: UnsafeRawBufferPointer) -> Int? {
        tally.options.firstIndex { option in
            var option = option
            return option.withUTF8 { utf8 in
                utf8.count == bytes.count && utf8.elementsEqual(bytes)
            }
        }
    }

    mutating func cast(voter: String, option: Int, seq: UInt64) -> TallyEffect {
        let previous = ballots.updateValue(Ballot(option: UInt16(option), seq: seq), forKey: voter)
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

    /// What `apply(voter:option:seq:unlessCovered:)` did.
    enum RecordOutcome {
        case applied
        /// `unlessCovered` and the poll has already seen this seq: nothing done.
        case covered
        /// Refused, nothing changed: the poll is closed, the option unknown, the vote the voter's
        /// current one, (a retraction) the voter has no vote, or a new voter does not fit.
        case closed, noSuchOption, unchanged, noVote, full
    }

    /// Applies a logged vote for `option` (nil: a retraction) by the voter whose id is `voter`,
    /// event `seq`, from id bytes: `Projection.apply(record:)`'s work on this poll, done in place.
    mutating func apply(voter: UnsafeRawBufferPointer, option: UnsafeRawBufferPointer?, seq: UInt64, unlessCovered: Bool) -> RecordOutcome {
        if unlessCovered, tally.lastSeq >= seq { return .covered }
        guard tally.isOpen else { return .closed }
        guard let option else {
            guard let previous = ballots.removeValue(bytes: voter) else { return .noVote }
            tally.apply(.voteMoved(from: Int(previous.option), to: nil), seq: seq)
            return .applied
        }
        guard let index = optionIndex(bytes: option) else { return .noSuchOption }
        if !ballots.canAdd(idBytes: voter.count), ballots[bytes: voter] == nil { return .full }
        switch ballots.move(bytes: voter, to: Ballot(option: UInt16(index), seq: seq)) {
        case .unchanged:
            return .unchanged
        case .moved(let previous):
            tally.apply(.voteMoved(from: previous.map { Int($0.option) }, to: index), seq: seq)
            return .applied
        }
    }
}
