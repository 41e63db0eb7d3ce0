/// The tally state machine over a set of polls: a plain value with no I/O.
///
/// The live projection actors each own one (for their share of the polls), and `replay`,
/// `verify` and recovery own one for all polls. `decide` validates a command against the state;
/// `apply` moves the state by one logged event. Every event the server logs is one that `decide`
/// answered `.append` for, so `apply` never has to reject an event of a healthy log.
public struct Projection: Sendable {
    /// Limits that `decide` enforces on new polls.
    public struct Limits: Sendable {
        public var maxOptions: Int
        public init(maxOptions: Int = 64) { self.maxOptions = maxOptions }
    }

    /// What `decide` says of a command.
    public enum Decision: Equatable, Sendable {
        /// Valid and changes state: append this event.
        case append
        /// The voter already holds exactly this vote: append nothing; the vote's event is `seq`.
        case unchanged(seq: UInt64)
        /// Breaks a rule; nothing is appended.
        case rejected(TallyRule)
    }

    /// The polls in the order they were added; `index` finds one by id.
    var states: [PollState] = []
    var index = PollIndex()
    /// The polls' option ids by position, for applying logged votes from their bytes.
    var optionIDs = OptionIDs()
    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Every poll by id (a new dictionary each time: for snapshots and checks, not per command).
    public var polls: [String: PollState] {
        Dictionary(uniqueKeysWithValues: states.map { ($0.tally.poll, $0) })
    }

    /// The number of polls.
    public var pollCount: Int { states.count }

    /// The state of `poll`, if it exists.
    public func state(of poll: String) -> PollState? {
        index.position(of: poll).map { states[$0] }
    }

    /// The tally of `poll`, if it exists.
    public func tally(_ poll: String) -> Tally? { state(of: poll)?.tally }

    /// The seq of the last event applied to `poll`, if it exists (no copy of its state).
    public func lastSeq(of poll: String) -> UInt64? {
        index.position(of: poll).map { states[$0].tally.lastSeq }
    }

    /// Where `poll` sits, for the `at:` forms below: a server looks a command's poll up once and
    /// hands the position to each step instead of each step hashing the id again.
    public func position(of poll: String) -> Int? {
        index.position(of: poll)
    }

    /// The seq of the last event applied to the poll at `position`.
    public func lastSeq(at position: Int) -> UInt64 {
        states[position].tally.lastSeq
    }

    /// Every tally, in poll-id order (byte order of the ids).
    public var tallies: [Tally] {
        states.map(\.tally).sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
    }

    /// Adds a poll that is not present yet.
    mutating func add(_ state: PollState) {
        index.append(state.tally.poll)
        optionIDs.append(state.tally.options)
        states.append(state)
    }

    /// Whether `command` may be appended, given the current state.
    public func decide(_ command: EventBody) -> Decision {
        decide(command, at: index.position(of: command.poll))
    }

    /// `decide(command)`, where `position` is `position(of: command.poll)` on this very state.
    public func decide(_ command: EventBody, at position: Int?) -> Decision {
        switch command {
        case .pollCreated(let poll, let options, _):
            if position != nil { return .rejected(.pollExists(poll)) }
            if options.count < 2 { return .rejected(.tooFewOptions) }
            if options.count > limits.maxOptions { return .rejected(.tooManyOptions(limits.maxOptions)) }
            var seen = Set<String>()
            for option in options where !seen.insert(option).inserted { return .rejected(.repeatedOption(option)) }
            return .append
        case .voteCast(let poll, var voter, var option):
            guard let position else { return .rejected(.noSuchPoll(poll)) }
            let decision = voter.withUTF8 { voter in
                option.withUTF8 { option in
                    decideVote(at: position, voter: UnsafeRawBufferPointer(voter), option: UnsafeRawBufferPointer(option))
                }
            }
            switch decision {
            case .append: return .append
            case .unchanged(let seq): return .unchanged(seq: seq)
            case .rejected(let rule): return .rejected(rule)
            }
        case .voteRetracted(let poll, let voter):
            guard let position else { return .rejected(.noSuchPoll(poll)) }
            guard states[position].tally.isOpen else { return .rejected(.pollClosed(poll)) }
            guard states[position].ballots[voter] != nil else { return .rejected(.noVote(poll: poll, voter: voter)) }
            return .append
        case .pollClosed(let poll):
            guard let position else { return .rejected(.noSuchPoll(poll)) }
            guard states[position].tally.isOpen else { return .rejected(.pollClosed(poll)) }
            return .append
        }
    }

    /// Applies one logged event and returns what it did to the poll's tally.
    ///
    /// Throws the rule the event breaks; the state is then unchanged.
    @discardableResult
    public mutating func apply(_ event: Event) throws(TallyRule) -> TallyEffect {
        let position = index.position(of: event.body.poll)
        switch decide(event.body, at: position) {
        case .rejected(let rule): throw rule
        case .unchanged: throw .unchangedVote(poll: event.body.poll, voter: Self.voter(of: event.body))
        case .append: break
        }
        return try applyDecided(event, at: position)
    }

    /// Applies an event that `decide` answered `.append` for on this very state, without asking
    /// it again: the server decides each command before appending it, and looking the poll and
    /// the voter up twice was a tenth of a shard's time. Anything else goes through `apply`.
    @discardableResult
    public mutating func applyDecided(_ event: Event) throws(TallyRule) -> TallyEffect {
        try applyDecided(event, at: index.position(of: event.body.poll))
    }

    /// `applyDecided(event)`, where `position` is `position(of: event.body.poll)` on this very state.
    @discardableResult
    public mutating func applyDecided(_ event: Event, at position: Int?) throws(TallyRule) -> TallyEffect {
        switch event.body {
        case .pollCreated(let poll, let options, let question):
            let tally = Tally(poll: poll, options: options, question: question, seq: event.seq)
            add(PollState(tally: tally))
            return .created(tally)
        case .voteCast(let poll, var voter, let option):
            guard let position, let option = optionIDs.index(of: option, inPoll: position) else {
                throw .noSuchOption(poll: poll, option: option)
            }
            return try castVote(at: position, voter: &voter, option: option, seq: event.seq)
        case .voteRetracted(let poll, var voter):
            guard let position else { throw .noSuchPoll(poll) }
            return try castVote(at: position, voter: &voter, option: nil, seq: event.seq)
        case .pollClosed(let poll):
            guard let position else { throw .noSuchPoll(poll) }
            return states[position].close(seq: event.seq)
        }
    }

    /// `castVote` of a voter id held as a `String`.
    private mutating func castVote(at position: Int, voter: inout String, option: Int?, seq: UInt64) throws(TallyRule) -> TallyEffect {
        let outcome: Result<TallyEffect, TallyRule> = voter.withUTF8 { voter in
            do throws(TallyRule) {
                return .success(try castVote(at: position, voter: UnsafeRawBufferPointer(voter), option: option, seq: seq))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    private static func voter(of body: EventBody) -> String {
        switch body {
        case .voteCast(_, let voter, _), .voteRetracted(_, let voter): return voter
        case .pollCreated, .pollClosed: return ""
        }
    }
}
