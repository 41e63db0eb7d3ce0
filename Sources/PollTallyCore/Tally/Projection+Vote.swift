/// Deciding and applying a vote from its ids' bytes: the server's path for `VOTE` (`VoteLine`),
/// and the one statement of a vote's rules, which `decide(_:)` uses for `voteCast` too; and the
/// prefetch of a ballot slot a shard asks for before deciding a round's votes and retractions.
extension Projection {
    /// What `decideVote` says of a vote.
    public enum VoteDecision: Equatable, Sendable {
        /// Valid and changes state: append the vote, for the option at this index.
        case append(option: Int)
        /// The voter already holds exactly this vote: append nothing; the vote's event is `seq`.
        case unchanged(seq: UInt64)
        /// Breaks a rule; nothing is appended.
        case rejected(TallyRule)
    }

    /// The position of the poll whose id is `bytes`, for the `at:` forms.
    public func position(of bytes: UnsafeRawBufferPointer) -> Int? {
        index.position(of: bytes)
    }

    /// The id of the poll at `position`.
    public func pollID(at position: Int) -> String {
        states[position].tally.poll
    }

    /// Whether the voter whose id is `voter` may vote for the option whose id is `option` in the
    /// poll at `position`, given the current state: `decide(.voteCast(...))` without a `String`
    /// unless a rule is broken (the rule names the ids).
    public func decideVote(at position: Int, voter: UnsafeRawBufferPointer, option: UnsafeRawBufferPointer) -> VoteDecision {
        guard states[position].tally.isOpen else { return .rejected(.pollClosed(pollID(at: position))) }
        guard let index = optionIDs.index(of: option, inPoll: position) else {
            return .rejected(.noSuchOption(poll: pollID(at: position), option: String(decoding: option, as: UTF8.self)))
        }
        guard let ballot = states[position].ballots[bytes: voter] else {
            return states[position].ballots.canAdd(idBytes: voter.count) ? .append(option: index) : .rejected(.pollFull(pollID(at: position)))
        }
        if Int(ballot.option) == index { return .unchanged(seq: ballot.seq) }
        return .append(option: index)
    }

    /// Applies a vote that `decideVote` answered `.append(option:)` for on this very state, as
    /// event `seq`; returns what it did to the poll's tally (`applyDecided` of the `voteCast`).
    /// `option` nil is a retraction. It goes through the same `PollState.apply` as replay, which
    /// checks the rules again: a throw means `decideVote` and replay disagree (the state is then
    /// unchanged).
    @discardableResult
    public mutating func castVote(at position: Int, voter: UnsafeRawBufferPointer, option: Int?, seq: UInt64) throws(TallyRule) -> TallyEffect {
        switch states[position].cast(voter: voter, option: option, seq: seq) {
        case .success(let move): return .voteMoved(from: move.from, to: move.to)
        case .failure(let refusal): throw Self.rule(refusal, poll: pollID(at: position), voter: Self.string(voter))
        }
    }

    /// Starts loading into the cache the ballot slot that deciding `command` will read, if it is
    /// a vote or a retraction for a poll that exists; changes nothing. A shard calls it for every
    /// command of a round before deciding the first, so that the round's cache misses on the
    /// ballot tables overlap instead of each vote waiting for its own (a tenth of a shard's time).
    public mutating func prefetchBallot(of command: EventBody) {
        switch command {
        case .voteCast(let poll, var voter, _), .voteRetracted(let poll, var voter):
            guard let position = index.position(of: poll) else { return }
            voter.withUTF8 { prefetchBallot(at: position, voter: UnsafeRawBufferPointer($0)) }
        case .pollCreated, .pollClosed:
            return
        }
    }

    /// Starts loading into the cache the ballot slot of the voter whose id is `voter` in the poll
    /// at `position`; changes nothing (see `prefetchBallot(of:)`).
    public mutating func prefetchBallot(at position: Int, voter: UnsafeRawBufferPointer) {
        let hash = states[position].ballots.hash(voter)
        states[position].ballots.prefetch(hash: hash)
    }

    /// `prefetchBallot(at:voter:)` for the poll whose id is `poll`, if it exists. Mutating, like
    /// the rest of the prefetching: called from a closure, a non-mutating lookup copied the
    /// whole projection first.
    public mutating func prefetchBallot(poll: UnsafeRawBufferPointer, voter: UnsafeRawBufferPointer) {
        guard let position = index.position(of: poll) else { return }
        prefetchBallot(at: position, voter: voter)
    }
}
