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

    /// The vote of event `seq` for the option at index `option` (nil: a retraction) by the voter
    /// whose id is `voter`: what the server applies once `Projection.decide` accepted it. The
    /// same `apply` as replay's, so the two cannot change a poll differently.
    mutating func cast(voter: UnsafeRawBufferPointer, option: Int?, seq: UInt64) -> Result<Move, Refusal> {
        apply(voter: voter, hash: ballots.hash(voter), option: option, seq: seq)
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
        /// Refused, nothing changed.
        case refused(Refusal)
    }

    /// Why `apply(voter:hash:option:seq:unlessCovered:)` refused a vote: the poll is closed, the
    /// vote is the voter's current one, (a retraction) the voter has no vote, or a new voter
    /// does not fit.
    enum Refusal: Error {
        case closed, unchanged, noVote, full
    }

    /// Replay's and recovery's entry (`Projection.apply(record:)`): with `unlessCovered`, skips an
    /// event the poll already holds (restored from a snapshot); otherwise `apply(voter:hash:option:seq:)`.
    @inline(__always)
    mutating func apply(voter: UnsafeRawBufferPointer, hash: UInt64, option: Int?, seq: UInt64, unlessCovered: Bool) -> RecordOutcome {
        if unlessCovered, tally.lastSeq >= seq { return .covered }
        switch apply(voter: voter, hash: hash, option: option, seq: seq) {
        case .success: return .applied
        case .failure(let refusal): return .refused(refusal)
        }
    }

    /// Applies a vote for the option at index `option` (nil: a retraction) by the voter whose id
    /// is `voter` (hashed: `ballots.hash(_:)`), event `seq`, from id bytes, in place: the one
    /// statement of what a vote changes in a poll, for replay and recovery and for the server
    /// (`cast`) alike. On a refusal nothing changed.
    @inline(__always)
    mutating func apply(voter: UnsafeRawBufferPointer, hash: UInt64, option: Int?, seq: UInt64) -> Result<Move, Refusal> {
        guard tally.isOpen else { return .failure(.closed) }
        guard let option else {
            guard let previous = ballots.removeValue(bytes: voter, hash: hash) else { return .failure(.noVote) }
            let move = Move(from: Int(previous.option), to: nil)
            tally.apply(.voteMoved(from: move.from, to: nil), seq: seq)
            return .success(move)
        }
        if !ballots.canAdd(idBytes: voter.count), ballots[bytes: voter] == nil { return .failure(.full) }
        switch ballots.move(bytes: voter, hash: hash, to: Ballot(option: UInt16(option), seq: seq)) {
        case .unchanged:
            return .failure(.unchanged)
        case .moved(let previous):
            let move = Move(from: previous.map { Int($0.option) }, to: option)
            tally.apply(.voteMoved(from: move.from, to: option), seq: seq)
            return .success(move)
        }
    }

    /// What an applied vote did: the voter's option before and after it (nil: none). A plain
    /// value rather than a `TallyEffect`, whose other cases carry a whole tally to release.
    struct Move {
        var from: Int?
        var to: Int?
    }
}
