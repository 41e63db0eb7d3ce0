import Testing
import PollTallyTestSupport
@testable import PollTallyCore

/// Drives a projection the way the server does: decide, then apply under the next seq.
private struct Driver {
    var projection = Projection()
    var seq: UInt64 = 0

    init(limits: Projection.Limits = Projection.Limits()) {
        projection = Projection(limits: limits)
    }

    /// Decides `body`; if it may be appended, applies it under the next seq and returns the effect.
    @discardableResult
    mutating func run(_ body: EventBody) -> (decision: Projection.Decision, effect: TallyEffect?) {
        let decision = projection.decide(body)
        guard decision == .append else { return (decision, nil) }
        seq += 1
        switch applyResult(&projection, Event(seq: seq, timestampMs: Int64(seq) * 1000, body: body)) {
        case .success(let effect): return (decision, effect)
        case .failure(let rule):
            Issue.record("apply refused an event decide accepted: \(body) → \(rule)")
            return (decision, nil)
        }
    }

    func counts(_ poll: String) -> [Int]? { projection.tally(poll)?.counts }
}

/// Everything observable about a projection, for checking that a refused event changed nothing.
private struct Snapshot: Equatable {
    let tallies: [Tally]
    let ballots: [String: BallotTable]

    init(_ projection: Projection) {
        tallies = projection.tallies
        ballots = projection.polls.mapValues(\.ballots)
    }
}

@Suite("Projection: tally rules")
struct ProjectionTests {
    static let lunch = EventBody.pollCreated(poll: "lunch", options: ["pizza", "sushi", "tacos"], question: "Where shall we eat?")

    @Test("the at: forms the server uses (one lookup of the poll) decide and apply exactly as the plain ones")
    func positionFormsMatch() {
        let commands: [EventBody] = [
            Self.lunch, .voteCast(poll: "lunch", voter: "ann", option: "sushi"), .voteCast(poll: "lunch", voter: "ann", option: "sushi"),
            .voteCast(poll: "lunch", voter: "ann", option: "tacos"), .voteCast(poll: "nope", voter: "ann", option: "sushi"),
            .voteCast(poll: "lunch", voter: "bob", option: "soup"), .voteRetracted(poll: "lunch", voter: "cyd"),
            .voteRetracted(poll: "lunch", voter: "ann"), Self.lunch, .pollClosed(poll: "lunch"),
            .voteCast(poll: "lunch", voter: "bob", option: "pizza"), .pollClosed(poll: "lunch"), .pollClosed(poll: "nope"),
        ]
        var plain = Projection(), located = Projection()
        for (index, body) in commands.enumerated() {
            let position = located.position(of: body.poll)
            #expect(position.map { located.lastSeq(at: $0) } == located.lastSeq(of: body.poll), "\(body)")
            let decision = located.decide(body, at: position)
            #expect(decision == plain.decide(body), "\(body)")
            guard decision == .append else { continue }
            let event = Event(seq: UInt64(index + 1), timestampMs: 0, body: body)
            let plainEffect = try? plain.applyDecided(event)
            let locatedEffect = try? located.applyDecided(event, at: position)
            #expect(plainEffect != nil && plainEffect == locatedEffect, "\(body)")
        }
        #expect(plain.tallies == located.tallies)
        #expect(plain.polls.mapValues(\.ballots) == located.polls.mapValues(\.ballots))
    }

    @Test("prefetching each command's ballot first (as a shard does for a round) changes no decision and no state")
    func prefetchChangesNothing() {
        var plain = Projection(), prefetched = Projection()
        var seq: UInt64 = 0
        var rng = SplitMix64(seed: 11)
        // Unknown polls, a poll with an empty table, then a table that grows past several sizes.
        var commands: [EventBody] = [.voteCast(poll: "lunch", voter: "ann", option: "sushi"), Self.lunch,
                                     .voteRetracted(poll: "lunch", voter: "ann"), .voteCast(poll: "lunch", voter: "ann", option: "sushi")]
        for _ in 0..<3_000 {
            let voter = "v\(rng.next() % 700)"
            commands.append(rng.next() % 5 == 0 ? .voteRetracted(poll: "lunch", voter: voter)
                : .voteCast(poll: "lunch", voter: voter, option: ["pizza", "sushi", "tacos"][Int(rng.next() % 3)]))
        }
        for round in stride(from: 0, to: commands.count, by: 64) {
            let batch = commands[round..<min(round + 64, commands.count)]
            for body in batch { prefetched.prefetchBallot(of: body) }
            for body in batch {
                let decision = prefetched.decide(body)
                #expect(decision == plain.decide(body), "\(body)")
                guard decision == .append else { continue }
                seq += 1
                let event = Event(seq: seq, timestampMs: 0, body: body)
                #expect((try? prefetched.applyDecided(event)) == (try? plain.applyDecided(event)), "\(body)")
            }
        }
        #expect(plain.tallies == prefetched.tallies)
        #expect(plain.polls.mapValues(\.ballots) == prefetched.polls.mapValues(\.ballots))
        #expect(prefetched.tally("lunch")?.counts.reduce(0, +) ?? 0 > 0)
    }

    // MARK: Create

    @Test("create makes an open poll with zero counts, lastSeq at the create event")
    func create() {
        var projection = Projection()
        #expect(projection.tally("lunch") == nil)
        #expect(projection.decide(Self.lunch) == .append)
        let effect = applyResult(&projection, Event(seq: 5, timestampMs: 1, body: Self.lunch))
        let expected = Tally(poll: "lunch", options: ["pizza", "sushi", "tacos"], question: "Where shall we eat?", seq: 5)
        #expect(effect == .success(.created(expected)))
        let tally = projection.tally("lunch")
        #expect(tally == expected)
        #expect(tally?.counts == [0, 0, 0])
        #expect(tally?.isOpen == true)
        #expect(tally?.total == 0)
        #expect(tally?.lastSeq == 5)
        #expect(tally?.question == "Where shall we eat?")
        #expect(tally?.options == ["pizza", "sushi", "tacos"])
    }

    @Test("create of an existing poll is pollExists, even with other options")
    func createDuplicate() {
        var driver = Driver()
        driver.run(Self.lunch)
        #expect(driver.projection.decide(Self.lunch) == .rejected(.pollExists("lunch")))
        let other = EventBody.pollCreated(poll: "lunch", options: ["x", "y"], question: "")
        #expect(driver.projection.decide(other) == .rejected(.pollExists("lunch")))
        // Even after the poll is closed.
        driver.run(.pollClosed(poll: "lunch"))
        #expect(driver.projection.decide(other) == .rejected(.pollExists("lunch")))
    }

    @Test("create with fewer than 2 options is tooFewOptions", arguments: [[String](), ["only"]])
    func tooFewOptions(_ options: [String]) {
        let projection = Projection()
        #expect(projection.decide(.pollCreated(poll: "p", options: options, question: "")) == .rejected(.tooFewOptions))
    }

    @Test("create with a repeated option is repeatedOption", arguments: [
        (["a", "a"], "a"), (["a", "b", "a"], "a"), (["a", "b", "c", "b"], "b"), (["x", "y", "y", "x"], "y"),
    ] as [([String], String)])
    func repeatedOption(_ options: [String], _ repeated: String) {
        let projection = Projection()
        #expect(projection.decide(.pollCreated(poll: "p", options: options, question: "")) == .rejected(.repeatedOption(repeated)))
    }

    @Test("options are case-sensitive, so A and a are different options")
    func caseSensitiveOptions() {
        #expect(Projection().decide(.pollCreated(poll: "p", options: ["A", "a"], question: "")) == .append)
    }

    @Test("create enforces the option limit: 64 by default")
    func optionLimit() {
        let projection = Projection()
        let sixtyFour = (0..<64).map { "o\($0)" }
        #expect(projection.decide(.pollCreated(poll: "p", options: sixtyFour, question: "")) == .append)
        #expect(projection.decide(.pollCreated(poll: "p", options: sixtyFour + ["o64"], question: "")) == .rejected(.tooManyOptions(64)))
    }

    @Test("create enforces a custom option limit")
    func customOptionLimit() {
        let projection = Projection(limits: .init(maxOptions: 3))
        #expect(projection.decide(.pollCreated(poll: "p", options: ["a", "b", "c"], question: "")) == .append)
        #expect(projection.decide(.pollCreated(poll: "p", options: ["a", "b", "c", "d"], question: "")) == .rejected(.tooManyOptions(3)))
    }

    // MARK: Vote

    @Test("votes are counted per option")
    func voteCounts() {
        var driver = Driver()
        driver.run(Self.lunch)
        let first = driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        #expect(first.decision == .append)
        #expect(first.effect == .voteMoved(from: nil, to: 0))
        driver.run(.voteCast(poll: "lunch", voter: "bob", option: "pizza"))
        let carol = driver.run(.voteCast(poll: "lunch", voter: "carol", option: "tacos"))
        #expect(carol.effect == .voteMoved(from: nil, to: 2))
        #expect(driver.counts("lunch") == [2, 0, 1])
        #expect(driver.projection.tally("lunch")?.total == 3)
        #expect(driver.projection.polls["lunch"]?.ballot(of: "alice") == PollState.Ballot(option: 0, seq: 2))
        #expect(driver.projection.polls["lunch"]?.ballot(of: "carol") == PollState.Ballot(option: 2, seq: 4))
        #expect(driver.projection.polls["lunch"]?.ballot(of: "dave") == nil)
    }

    @Test("a vote moves: old option -1, new option +1, total unchanged")
    func voteMoves() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        driver.run(.voteCast(poll: "lunch", voter: "bob", option: "pizza"))
        #expect(driver.counts("lunch") == [2, 0, 0])
        let move = driver.run(.voteCast(poll: "lunch", voter: "alice", option: "sushi"))
        #expect(move.decision == .append)
        #expect(move.effect == .voteMoved(from: 0, to: 1))
        #expect(driver.counts("lunch") == [1, 1, 0])
        #expect(driver.projection.tally("lunch")?.total == 2)
        #expect(driver.projection.polls["lunch"]?.ballot(of: "alice") == PollState.Ballot(option: 1, seq: 4))
        let again = driver.run(.voteCast(poll: "lunch", voter: "alice", option: "tacos"))
        #expect(again.effect == .voteMoved(from: 1, to: 2))
        #expect(driver.counts("lunch") == [1, 0, 1])
    }

    @Test("repeating the current vote is unchanged, naming the seq of the event that holds it")
    func repeatVote() {
        var driver = Driver()
        driver.run(Self.lunch)                                                  // seq 1
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))   // seq 2
        driver.run(.voteCast(poll: "lunch", voter: "bob", option: "sushi"))     // seq 3
        let vote = EventBody.voteCast(poll: "lunch", voter: "alice", option: "pizza")
        #expect(driver.projection.decide(vote) == .unchanged(seq: 2))
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "sushi"))   // seq 4
        driver.run(.voteCast(poll: "lunch", voter: "carol", option: "pizza"))   // seq 5
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "alice", option: "sushi")) == .unchanged(seq: 4))
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "bob", option: "sushi")) == .unchanged(seq: 3))
        // Moving back is a change again.
        #expect(driver.projection.decide(vote) == .append)
    }

    @Test("apply refuses to log an unchanged vote, and changes nothing")
    func applyUnchanged() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        let before = Snapshot(driver.projection)
        let result = applyResult(&driver.projection, Event(seq: 3, timestampMs: 0, body: .voteCast(poll: "lunch", voter: "alice", option: "pizza")))
        #expect(result == .failure(.unchangedVote(poll: "lunch", voter: "alice")))
        #expect(Snapshot(driver.projection) == before)
        #expect(driver.projection.tally("lunch")?.lastSeq == 2)
    }

    @Test("a vote in an unknown poll is noSuchPoll")
    func voteUnknownPoll() {
        var driver = Driver()
        driver.run(Self.lunch)
        #expect(driver.projection.decide(.voteCast(poll: "dinner", voter: "a", option: "pizza")) == .rejected(.noSuchPoll("dinner")))
        #expect(driver.projection.decide(.voteRetracted(poll: "dinner", voter: "a")) == .rejected(.noSuchPoll("dinner")))
        #expect(driver.projection.decide(.pollClosed(poll: "dinner")) == .rejected(.noSuchPoll("dinner")))
    }

    @Test("a vote for an unknown option is noSuchOption (options are case-sensitive)", arguments: ["burgers", "Pizza", "pizz", "pizzas"])
    func voteUnknownOption(_ option: String) {
        var driver = Driver()
        driver.run(Self.lunch)
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "a", option: option))
            == .rejected(.noSuchOption(poll: "lunch", option: option)))
    }

    // MARK: Unvote

    @Test("unvote takes the vote away; unvote with no vote is noVote")
    func unvote() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        driver.run(.voteCast(poll: "lunch", voter: "bob", option: "pizza"))
        let unvote = driver.run(.voteRetracted(poll: "lunch", voter: "alice"))
        #expect(unvote.decision == .append)
        #expect(unvote.effect == .voteMoved(from: 0, to: nil))
        #expect(driver.counts("lunch") == [1, 0, 0])
        #expect(driver.projection.tally("lunch")?.total == 1)
        #expect(driver.projection.tally("lunch")?.lastSeq == 4)
        #expect(driver.projection.polls["lunch"]?.ballot(of: "alice") == nil)
        #expect(driver.projection.decide(.voteRetracted(poll: "lunch", voter: "alice")) == .rejected(.noVote(poll: "lunch", voter: "alice")))
        #expect(driver.projection.decide(.voteRetracted(poll: "lunch", voter: "nobody")) == .rejected(.noVote(poll: "lunch", voter: "nobody")))
        // Voting again after an unvote is a new vote, not unchanged.
        let back = driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        #expect(back.decision == .append)
        #expect(back.effect == .voteMoved(from: nil, to: 0))
        #expect(driver.counts("lunch") == [2, 0, 0])
    }

    @Test("a voter's votes in different polls are independent")
    func pollsAreIndependent() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.pollCreated(poll: "dinner", options: ["pizza", "soup"], question: ""))
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        #expect(driver.projection.decide(.voteCast(poll: "dinner", voter: "alice", option: "pizza")) == .append)
        driver.run(.voteCast(poll: "dinner", voter: "alice", option: "pizza"))
        driver.run(.voteRetracted(poll: "lunch", voter: "alice"))
        #expect(driver.counts("lunch") == [0, 0, 0])
        #expect(driver.counts("dinner") == [1, 0])
    }

    // MARK: Close

    @Test("close closes the poll; vote, unvote and close on it are then pollClosed")
    func close() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        let close = driver.run(.pollClosed(poll: "lunch"))
        #expect(close.decision == .append)
        #expect(close.effect == .closed)
        let tally = driver.projection.tally("lunch")
        #expect(tally?.isOpen == false)
        #expect(tally?.counts == [1, 0, 0])
        #expect(tally?.lastSeq == 3)
        let closed = Projection.Decision.rejected(.pollClosed("lunch"))
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "bob", option: "sushi")) == closed)
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "alice", option: "sushi")) == closed)
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "alice", option: "pizza")) == closed)
        #expect(driver.projection.decide(.voteCast(poll: "lunch", voter: "bob", option: "nonsense")) == closed)
        #expect(driver.projection.decide(.voteRetracted(poll: "lunch", voter: "alice")) == closed)
        #expect(driver.projection.decide(.voteRetracted(poll: "lunch", voter: "bob")) == closed)
        #expect(driver.projection.decide(.pollClosed(poll: "lunch")) == closed)
    }

    // MARK: apply

    @Test("apply throws the broken rule for an invalid event and leaves the state unchanged")
    func applyInvalid() {
        var driver = Driver()
        driver.run(Self.lunch)
        driver.run(.pollCreated(poll: "old", options: ["a", "b"], question: ""))
        driver.run(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        driver.run(.voteCast(poll: "old", voter: "alice", option: "a"))
        driver.run(.pollClosed(poll: "old"))
        let cases: [(EventBody, TallyRule)] = [
            (Self.lunch, .pollExists("lunch")),
            (.pollCreated(poll: "new", options: ["a"], question: ""), .tooFewOptions),
            (.pollCreated(poll: "new", options: ["a", "a"], question: ""), .repeatedOption("a")),
            (.pollCreated(poll: "new", options: (0..<65).map { "o\($0)" }, question: ""), .tooManyOptions(64)),
            (.voteCast(poll: "nope", voter: "alice", option: "pizza"), .noSuchPoll("nope")),
            (.voteCast(poll: "lunch", voter: "bob", option: "sushis"), .noSuchOption(poll: "lunch", option: "sushis")),
            (.voteCast(poll: "lunch", voter: "alice", option: "pizza"), .unchangedVote(poll: "lunch", voter: "alice")),
            (.voteCast(poll: "old", voter: "bob", option: "a"), .pollClosed("old")),
            (.voteRetracted(poll: "lunch", voter: "bob"), .noVote(poll: "lunch", voter: "bob")),
            (.voteRetracted(poll: "nope", voter: "bob"), .noSuchPoll("nope")),
            (.voteRetracted(poll: "old", voter: "alice"), .pollClosed("old")),
            (.pollClosed(poll: "nope"), .noSuchPoll("nope")),
            (.pollClosed(poll: "old"), .pollClosed("old")),
        ]
        let before = Snapshot(driver.projection)
        for (body, rule) in cases {
            let result = applyResult(&driver.projection, Event(seq: 99, timestampMs: 0, body: body))
            #expect(result == .failure(rule), "\(body)")
            #expect(Snapshot(driver.projection) == before, "\(body)")
        }
        #expect(driver.projection.tally("new") == nil)
        #expect(driver.projection.tally("nope") == nil)
    }

    @Test("lastSeq is the seq of the last event applied to that poll")
    func lastSeqPerPoll() {
        var driver = Driver()
        driver.run(.pollCreated(poll: "a", options: ["x", "y"], question: ""))   // 1
        driver.run(.pollCreated(poll: "b", options: ["x", "y"], question: ""))   // 2
        #expect(driver.projection.tally("a")?.lastSeq == 1)
        #expect(driver.projection.tally("b")?.lastSeq == 2)
        driver.run(.voteCast(poll: "a", voter: "v", option: "x"))                 // 3
        driver.run(.voteCast(poll: "b", voter: "v", option: "x"))                 // 4
        driver.run(.voteCast(poll: "b", voter: "v", option: "y"))                 // 5
        #expect(driver.projection.tally("a")?.lastSeq == 3)
        #expect(driver.projection.tally("b")?.lastSeq == 5)
        driver.run(.voteRetracted(poll: "a", voter: "v"))                         // 6
        #expect(driver.projection.tally("a")?.lastSeq == 6)
        #expect(driver.projection.tally("b")?.lastSeq == 5)
        driver.run(.pollClosed(poll: "b"))                                        // 7
        #expect(driver.projection.tally("a")?.lastSeq == 6)
        #expect(driver.projection.tally("b")?.lastSeq == 7)
        // A rejected or unchanged command does not touch lastSeq.
        driver.run(.voteCast(poll: "b", voter: "w", option: "x"))
        driver.run(.voteRetracted(poll: "a", voter: "v"))
        #expect(driver.projection.tally("a")?.lastSeq == 6)
        #expect(driver.projection.tally("b")?.lastSeq == 7)
    }

    @Test("lastSeq follows the seqs given, gaps and all")
    func lastSeqUsesEventSeq() throws {
        var projection = Projection()
        try projection.apply(Event(seq: 100, timestampMs: 0, body: .pollCreated(poll: "p", options: ["a", "b"], question: "")))
        try projection.apply(Event(seq: 250, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "b")))
        #expect(projection.tally("p")?.lastSeq == 250)
        #expect(projection.polls["p"]?.ballot(of: "v") == PollState.Ballot(option: 1, seq: 250))
        #expect(projection.decide(.voteCast(poll: "p", voter: "v", option: "b")) == .unchanged(seq: 250))
    }

    @Test("tallies are sorted by poll id in byte order")
    func talliesSorted() {
        var driver = Driver()
        for poll in ["b", "a", "C", "aa", "_", "9", "A.b", "a-", "z"] {
            driver.run(.pollCreated(poll: poll, options: ["x", "y"], question: ""))
        }
        #expect(driver.projection.tallies.map(\.poll) == ["9", "A.b", "C", "_", "a", "a-", "aa", "b", "z"])
        #expect(Projection().tallies.isEmpty)
    }

    @Test("tallies reflect the current counts")
    func talliesCurrent() {
        var driver = Driver()
        driver.run(.pollCreated(poll: "b", options: ["x", "y"], question: ""))
        driver.run(.pollCreated(poll: "a", options: ["x", "y"], question: ""))
        driver.run(.voteCast(poll: "b", voter: "v", option: "y"))
        #expect(driver.projection.tallies.map(\.counts) == [[0, 0], [0, 1]])
    }

    // MARK: The effect invariant

    @Test("Tally.apply of each effect reproduces the projection's tally")
    func effectReplayManual() {
        var driver = Driver()
        var mirror: [String: Tally] = [:]
        let commands: [EventBody] = [
            Self.lunch,
            .voteCast(poll: "lunch", voter: "a", option: "pizza"),
            .voteCast(poll: "lunch", voter: "b", option: "sushi"),
            .voteCast(poll: "lunch", voter: "a", option: "sushi"),
            .voteRetracted(poll: "lunch", voter: "b"),
            .pollClosed(poll: "lunch"),
        ]
        for body in commands {
            let (_, effect) = driver.run(body)
            guard let effect else { Issue.record("no effect for \(body)"); return }
            if case .created(let tally) = effect {
                mirror[body.poll] = tally
            } else {
                mirror[body.poll]?.apply(effect, seq: driver.seq)
            }
            #expect(mirror[body.poll] == driver.projection.tally(body.poll), "\(body)")
        }
        #expect(mirror["lunch"]?.counts == [0, 1, 0])
        #expect(mirror["lunch"]?.isOpen == false)
    }

    /// The server's invariant over a seeded random command stream: applying each returned effect to
    /// a separate `Tally` gives the projection's tally, and both agree with a naive model.
    @Test("effects replayed on separate tallies match the projection over random commands", arguments: [UInt64(1), 42, 0xC0FFEE])
    func effectInvariantRandom(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var driver = Driver(limits: .init(maxOptions: 5))
        var mirror: [String: Tally] = [:]
        // The naive model: poll → voter → (option, seq of the event holding it).
        var model: [String: (options: [String], open: Bool, lastSeq: UInt64, votes: [String: (option: String, seq: UInt64)])] = [:]
        // Polls come and go: at any step the commands touch a window of 6 poll ids that slides
        // forward over the run, so new polls keep being created while old ones get closed.
        let voters = (0..<8).map { "v\($0)" }
        let optionNames = ["a", "b", "c", "d", "e", "f", "g"]
        var appended = 0, unchanged = 0, rejected = 0

        for step in 0..<4000 {
            let poll = "p\(step / 250 + Int(rng.next() % 6))"
            let voter = voters[Int(rng.next() % UInt64(voters.count))]
            let body: EventBody
            switch rng.next() % 1000 {
            case 0..<60:
                let count = Int(rng.next() % 7)
                var options = Array(optionNames.shuffled(using: &rng).prefix(count))
                if count > 1, rng.next() % 5 == 0 { options[count - 1] = options[0] }
                body = .pollCreated(poll: poll, options: options, question: rng.next() % 2 == 0 ? "" : "q\(step)")
            case 60..<760:
                // Mostly an option the poll has, sometimes any name at all (maybe not an option).
                let known = model[poll]?.options ?? []
                let pool = known.isEmpty || rng.next() % 10 == 0 ? optionNames : known
                body = .voteCast(poll: poll, voter: voter, option: pool[Int(rng.next() % UInt64(pool.count))])
            case 760..<994:
                body = .voteRetracted(poll: poll, voter: voter)
            default:
                body = .pollClosed(poll: poll)
            }

            // What the model expects.
            let expected: Projection.Decision
            switch body {
            case .pollCreated(_, let options, _):
                if model[poll] != nil { expected = .rejected(.pollExists(poll)) }
                else if options.count < 2 { expected = .rejected(.tooFewOptions) }
                else if options.count > 5 { expected = .rejected(.tooManyOptions(5)) }
                else if let firstRepeat = options.enumerated().first(where: { i, o in options[..<i].contains(o) })?.element {
                    // The option whose second occurrence comes first.
                    expected = .rejected(.repeatedOption(firstRepeat))
                } else { expected = .append }
            case .voteCast(_, _, let option):
                if let state = model[poll] {
                    if !state.open { expected = .rejected(.pollClosed(poll)) }
                    else if !state.options.contains(option) { expected = .rejected(.noSuchOption(poll: poll, option: option)) }
                    else if let held = state.votes[voter], held.option == option { expected = .unchanged(seq: held.seq) }
                    else { expected = .append }
                } else { expected = .rejected(.noSuchPoll(poll)) }
            case .voteRetracted:
                if let state = model[poll] {
                    if !state.open { expected = .rejected(.pollClosed(poll)) }
                    else if state.votes[voter] == nil { expected = .rejected(.noVote(poll: poll, voter: voter)) }
                    else { expected = .append }
                } else { expected = .rejected(.noSuchPoll(poll)) }
            case .pollClosed:
                if let state = model[poll] {
                    expected = state.open ? .append : .rejected(.pollClosed(poll))
                } else { expected = .rejected(.noSuchPoll(poll)) }
            }

            let before = Snapshot(driver.projection)
            let (decision, effect) = driver.run(body)
            #expect(decision == expected, "step \(step): \(body)")
            guard decision == expected else { return }

            switch decision {
            case .append:
                appended += 1
                guard let effect else { Issue.record("step \(step): no effect"); return }
                if case .created(let tally) = effect {
                    #expect(mirror[poll] == nil)
                    mirror[poll] = tally
                } else {
                    mirror[poll]?.apply(effect, seq: driver.seq)
                }
                switch body {
                case .pollCreated(_, let options, _):
                    model[poll] = (options, true, driver.seq, [:])
                case .voteCast(_, _, let option):
                    model[poll]!.votes[voter] = (option, driver.seq)
                    model[poll]!.lastSeq = driver.seq
                case .voteRetracted:
                    model[poll]!.votes[voter] = nil
                    model[poll]!.lastSeq = driver.seq
                case .pollClosed:
                    model[poll]!.open = false
                    model[poll]!.lastSeq = driver.seq
                }
            case .unchanged, .rejected:
                if case .unchanged = decision { unchanged += 1 } else { rejected += 1 }
                #expect(Snapshot(driver.projection) == before, "step \(step)")
                // apply must refuse it too, without changing anything.
                var copy = driver.projection
                let result = applyResult(&copy, Event(seq: driver.seq + 1, timestampMs: 0, body: body))
                if case .rejected(let rule) = decision {
                    #expect(result == .failure(rule), "step \(step)")
                } else {
                    #expect(result == .failure(.unchangedVote(poll: poll, voter: voter)), "step \(step)")
                }
                #expect(Snapshot(copy) == before, "step \(step)")
            }

            // The invariant: the mirror built from effects equals the projection, poll by poll.
            let mirrored = mirror.values.sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
            #expect(mirrored == driver.projection.tallies, "step \(step): \(body)")
            // And both agree with the naive model.
            if let tally = driver.projection.tally(poll), let state = model[poll] {
                let counts = state.options.map { option in state.votes.values.filter { $0.option == option }.count }
                #expect(tally.counts == counts, "step \(step)")
                #expect(tally.total == state.votes.count, "step \(step)")
                #expect(tally.isOpen == state.open, "step \(step)")
                #expect(tally.lastSeq == state.lastSeq, "step \(step)")
            }
        }
        // The stream really exercised every outcome.
        #expect(appended > 800)
        #expect(unchanged > 100)
        #expect(rejected > 500)
        #expect(driver.projection.tallies.count >= 15)
        #expect(driver.projection.tallies.contains { !$0.isOpen })
        #expect(driver.projection.tallies.contains { $0.total > 0 })
    }

    /// A poll whose ballot table holds at most `capacity` bytes of voter ids, with 2 options.
    private static func smallPoll(capacity: Int) -> Projection {
        var state = PollState(tally: Tally(poll: "p", options: ["a", "b"], question: "", seq: 1))
        state.ballots = BallotTable(keyCapacity: capacity)
        return Projection(restoring: ["p": state])
    }

    @Test("a new voter whose id does not fit is refused with poll-full; existing voters still move and retract, and a retraction makes room")
    func pollFull() throws {
        var projection = Self.smallPoll(capacity: 10)
        try projection.apply(Event(seq: 2, timestampMs: 0, body: .voteCast(poll: "p", voter: "vvvv1", option: "a")))
        try projection.apply(Event(seq: 3, timestampMs: 0, body: .voteCast(poll: "p", voter: "vvvv2", option: "a")))
        // 10 bytes used: one more byte of id does not fit.
        #expect(projection.decide(.voteCast(poll: "p", voter: "v", option: "a")) == .rejected(.pollFull("p")))
        #expect(Array("v".utf8).withUnsafeBytes { voter in Array("a".utf8).withUnsafeBytes { option in
            projection.decideVote(at: 0, voter: voter, option: option)
        } } == .rejected(.pollFull("p")))
        #expect(TallyRule.pollFull("p").protocolError.line.hasPrefix("ERR poll-full poll p "))
        #expect(throws: TallyRule.pollFull("p")) {
            try projection.apply(Event(seq: 4, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a")))
        }
        // The same refusal from a logged payload, state unchanged.
        var payload: [UInt8] = []
        EventCodec.encode(Event(seq: 4, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "b")), into: &payload)
        let before = projection.polls
        #expect(throws: Projection.RecordFailure.rule(.pollFull("p"))) {
            try payload.withUnsafeBytes { try projection.apply(record: $0) }
        }
        #expect(projection.polls == before)
        // Voters already in the table are not affected.
        #expect(projection.decide(.voteCast(poll: "p", voter: "vvvv1", option: "b")) == .append)
        try projection.apply(Event(seq: 4, timestampMs: 0, body: .voteCast(poll: "p", voter: "vvvv1", option: "b")))
        try projection.apply(Event(seq: 5, timestampMs: 0, body: .voteRetracted(poll: "p", voter: "vvvv2")))
        // The retracted voter's 5 bytes are garbage now: a new 5-byte voter fits (the insert compacts).
        #expect(projection.decide(.voteCast(poll: "p", voter: "vvvv3", option: "a")) == .append)
        try projection.apply(Event(seq: 6, timestampMs: 0, body: .voteCast(poll: "p", voter: "vvvv3", option: "a")))
        #expect(projection.tally("p")?.counts == [1, 1])
    }
}

@Suite("Projection: the server's decide-then-applyDecided path")
struct ProjectionApplyDecidedTests {
    /// A seeded stream of every kind of command, valid and not, over a few polls, options and voters.
    private static func commands(seed: UInt64, count: Int) -> [EventBody] {
        var rng = SplitMix64(seed: seed)
        let polls = ["p0", "p1", "p2"]
        let options = ["a", "b", "c", "zz"]
        return (0..<count).map { _ in
            let poll = polls[Int(rng.next() % 3)]
            let voter = "v\(rng.next() % 40)"
            switch rng.next() % 400 {
            case 0..<8: return .pollCreated(poll: poll, options: Array(options.prefix(2 + Int(rng.next() % 2))), question: "")
            case 8: return .pollClosed(poll: poll)
            case 9..<80: return .voteRetracted(poll: poll, voter: voter)
            default: return .voteCast(poll: poll, voter: voter, option: options[Int(rng.next() % 4)])
            }
        }
    }

    @Test("decide + applyDecided gives the same effects and state as apply, over every rule", arguments: [1, 2, 3, 4] as [UInt64])
    func sameAsApply(seed: UInt64) throws {
        var checked = Projection()
        var decided = Projection()
        var seq: UInt64 = 0
        var appended = 0
        for body in Self.commands(seed: seed, count: 3_000) {
            let decision = decided.decide(body)
            #expect(decision == checked.decide(body))
            guard decision == .append else { continue }
            seq += 1
            let event = Event(seq: seq, timestampMs: 0, body: body)
            let viaApply = try checked.apply(event)
            let viaDecided = try decided.applyDecided(event)
            #expect(viaApply == viaDecided, "seq \(seq): \(body)")
            #expect(decided.lastSeq(of: body.poll) == seq)
            appended += 1
        }
        #expect(appended > 200, "the stream must exercise the append path")
        #expect(decided.tallies == checked.tallies)
        #expect(decided.polls.mapValues(\.ballots) == checked.polls.mapValues(\.ballots))
        #expect(decided.lastSeq(of: "nope") == nil)
    }

    @Test("castVote checks the rules again, as replay's apply does: a vote decide would refuse is refused, the state unchanged")
    func castVoteRefusesWhatReplayRefuses() throws {
        var projection = Projection()
        try projection.apply(Event(seq: 1, timestampMs: 0, body: .pollCreated(poll: "p", options: ["a", "b"], question: "")))
        try projection.apply(Event(seq: 2, timestampMs: 0, body: .voteCast(poll: "p", voter: "ann", option: "a")))
        let position = try #require(projection.position(of: "p"))
        let before = projection
        func cast(_ voter: String, _ option: Int?, seq: UInt64) -> Result<TallyEffect, TallyRule> {
            Array(voter.utf8).withUnsafeBytes { voter in
                do throws(TallyRule) {
                    return .success(try projection.castVote(at: position, voter: voter, option: option, seq: seq))
                } catch {
                    return .failure(error)
                }
            }
        }
        #expect(cast("ann", 0, seq: 3) == .failure(.unchangedVote(poll: "p", voter: "ann")))
        #expect(cast("bob", nil, seq: 3) == .failure(.noVote(poll: "p", voter: "bob")))
        #expect(projection.tallies == before.tallies && projection.polls == before.polls)
        #expect(cast("ann", 1, seq: 3) == .success(.voteMoved(from: 0, to: 1)))
        #expect(cast("ann", nil, seq: 4) == .success(.voteMoved(from: 1, to: nil)))
        try projection.apply(Event(seq: 5, timestampMs: 0, body: .pollClosed(poll: "p")))
        let closed = projection
        #expect(cast("cat", 0, seq: 6) == .failure(.pollClosed("p")))
        #expect(projection.tallies == closed.tallies && projection.polls == closed.polls)
    }

    @Test("a vote from its ids' bytes (the server's VOTE path) is decided and applied as the same vote as a String", arguments: [5, 6, 7] as [UInt64])
    func votesFromBytes(seed: UInt64) throws {
        var strings = Projection()
        var bytes = Projection()
        var seq: UInt64 = 0
        var votes = 0
        for body in Self.commands(seed: seed, count: 3_000) {
            let decision = strings.decide(body)
            guard case .voteCast(let poll, let voter, let option) = body else {
                #expect(bytes.decide(body) == decision)
                if decision == .append {
                    seq += 1
                    let event = Event(seq: seq, timestampMs: 0, body: body)
                    #expect(try strings.applyDecided(event) == bytes.applyDecided(event))
                }
                continue
            }
            let (position, fromBytes) = Self.withBytes(poll, voter, option) { poll, voter, option in
                let position = bytes.position(of: poll)
                return (position, position.map { bytes.decideVote(at: $0, voter: voter, option: option) })
            }
            #expect(position == strings.position(of: poll))
            switch (decision, fromBytes) {
            case (.rejected(.noSuchPoll(poll)), nil): continue
            case (.rejected(let rule), .rejected(let byteRule)?): #expect(rule == byteRule)
            case (.unchanged(let seq), .unchanged(let byteSeq)?): #expect(seq == byteSeq)
            case (.append, .append(let index)?):
                seq += 1
                let effect = try strings.applyDecided(Event(seq: seq, timestampMs: 0, body: body))
                let byteEffect = try Self.withBytes(poll, voter, option) { _, voter, _ in
                    try bytes.castVote(at: position ?? -1, voter: voter, option: index, seq: seq)
                }
                #expect(effect == byteEffect, "seq \(seq): \(body)")
                #expect(bytes.pollID(at: position ?? -1) == poll)
                votes += 1
            default:
                Issue.record("\(body): \(decision) from a String, \(String(describing: fromBytes)) from bytes")
            }
        }
        #expect(votes > 200, "the stream must exercise the append path")
        #expect(bytes.tallies == strings.tallies)
        #expect(bytes.polls.mapValues(\.ballots) == strings.polls.mapValues(\.ballots))
    }

    private static func withBytes<Result>(_ a: String, _ b: String, _ c: String,
                                          _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Array(a.utf8).withUnsafeBytes { a in try Array(b.utf8).withUnsafeBytes { b in try Array(c.utf8).withUnsafeBytes { c in try body(a, b, c) } } }
    }
}
