import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("Projection.apply(record:)")
struct ProjectionRecordTests {
    /// What applying one event did, in a comparable form.
    enum Outcome: Equatable, CustomStringConvertible {
        case applied(UInt64)
        case skipped(UInt64)
        case failed(Projection.RecordFailure)

        var description: String {
            switch self {
            case .applied(let seq): return "applied \(seq)"
            case .skipped(let seq): return "skipped \(seq)"
            case .failed(let failure): return "failed: \(failure)"
            }
        }
    }

    /// Applies `payload` with `apply(record:unlessCovered:)`, first preparing it (which must change nothing).
    static func viaRecord(_ projection: inout Projection, _ payload: [UInt8], unlessCovered: Bool = false) -> Outcome {
        payload.withUnsafeBytes { raw in
            _ = projection.prepare(record: raw)
            do throws(Projection.RecordFailure) {
                let (seq, applied) = try projection.apply(record: raw, unlessCovered: unlessCovered)
                return applied ? .applied(seq) : .skipped(seq)
            } catch {
                return .failed(error)
            }
        }
    }

    /// Applies `event` the reference way: `apply` (or `applyUnlessCovered`) of the decoded event.
    static func viaEvent(_ projection: inout Projection, _ event: Event, unlessCovered: Bool = false) -> Outcome {
        do throws(TallyRule) {
            if unlessCovered { return try projection.applyUnlessCovered(event) == nil ? .skipped(event.seq) : .applied(event.seq) }
            try projection.apply(event)
            return .applied(event.seq)
        } catch {
            return .failed(.rule(error))
        }
    }

    /// A generator of commands of every sort, valid and not, over a small world of ids.
    struct Commands {
        var rng: SplitMix64
        /// Poll ids, the last of which is never created.
        let polls: [String]
        let voters: [String]

        /// Some ids 64 bytes long, some with every kind of punctuation an id may hold.
        init(seed: UInt64,
             polls: [String] = ["p0", "p1", "lunch", "p-3:x@y.z", String(repeating: "L", count: 64), "never"],
             voters: [String] = (0..<30).map { $0 % 7 == 0 ? "voter-" + String(repeating: "w", count: 50) + "\($0)" : "v\($0)" }) {
            rng = SplitMix64(seed: seed)
            self.polls = polls
            self.voters = voters
        }

        mutating func options(of projection: Projection, _ poll: String) -> [String] {
            projection.tally(poll)?.options ?? ["o0", "o1"]
        }

        /// Fresh poll ids handed out so far.
        var fresh = 0

        /// A command: mostly votes (incl. moves, repeats, unknown options), and creations, retractions
        /// and closes, some of them breaking a rule. Half the time it picks an open poll, so votes land.
        mutating func next(_ projection: Projection) -> EventBody {
            let open = projection.states.lazy.filter(\.tally.isOpen).map(\.tally.poll)
            var poll = polls[Int.random(in: 0..<polls.count, using: &rng)]
            if !open.isEmpty && Bool.random(using: &rng) { poll = Array(open)[Int.random(in: 0..<open.count, using: &rng)] }
            let voter = voters[Int.random(in: 0..<voters.count, using: &rng)]
            let roll = Int.random(in: 0..<100, using: &rng)
            switch roll {
            case 0..<8:
                fresh += 1
                let options: [String]
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: options = ["only"]                                  // too few
                case 1: options = ["a", "b", "a"]                           // repeated
                case 2: options = (0..<6).map { "o\($0)" }                  // too many (limit 5)
                default: options = (0..<Int.random(in: 2...5, using: &rng)).map { "o\($0)" }
                }
                // A fresh id (so the options are judged), or one of the fixed ids (which may exist).
                let id = Int.random(in: 0..<3, using: &rng) == 0 ? (poll == polls.last ? polls[0] : poll) : "n\(fresh)"
                return .pollCreated(poll: id, options: options, question: roll % 2 == 0 ? "Q? ✓" : "")
            case 8..<75:
                var options = options(of: projection, poll)
                options.append("nope")  // an option no poll has
                if Int.random(in: 0..<4, using: &rng) == 0, let ballot = projection.state(of: poll)?.ballot(of: voter) {
                    // The voter's current option again: a repeat.
                    return .voteCast(poll: poll, voter: voter, option: options[Int(ballot.option)])
                }
                return .voteCast(poll: poll, voter: voter, option: options[Int.random(in: 0..<options.count, using: &rng)])
            case 75..<98:
                return .voteRetracted(poll: poll, voter: voter)
            default:
                return .pollClosed(poll: poll)
            }
        }
    }

    /// Every kind of outcome the stream produced, so the comparison cannot pass by seeing only successes.
    static func kindOf(_ outcome: Outcome) -> String {
        switch outcome {
        case .applied: return "applied"
        case .skipped: return "skipped"
        case .failed(.undecodable(let error)): return "undecodable \(error)"
        case .failed(.rule(let rule)):
            switch rule {
            case .pollExists: return "pollExists"
            case .noSuchPoll: return "noSuchPoll"
            case .noSuchOption: return "noSuchOption"
            case .pollClosed: return "pollClosed"
            case .noVote: return "noVote"
            case .tooFewOptions: return "tooFewOptions"
            case .repeatedOption: return "repeatedOption"
            case .tooManyOptions: return "tooManyOptions"
            case .invalidIdentifier: return "invalidIdentifier"
            case .unchangedVote: return "unchangedVote"
            case .pollFull: return "pollFull"
            }
        }
    }

    @Test("a random command stream: apply(record:) ≡ apply(EventCodec.decode(payload)), step by step", arguments: [UInt64(1), 2, 3, 4, 5])
    func matchesApplyEvent(_ seed: UInt64) {
        var commands = Commands(seed: seed)
        let limits = Projection.Limits(maxOptions: 5)
        var reference = Projection(limits: limits)
        var subject = Projection(limits: limits)
        var seen: [String: Int] = [:]
        var moves = 0
        for step in 0..<3000 {
            let event = Event(seq: UInt64(step + 1), timestampMs: 1_700_000_000_000 + Int64(step), body: commands.next(reference))
            let poll = event.body.poll
            let before = reference.state(of: poll)
            if case .voteCast(_, let voter, let option) = event.body,
               let ballot = before?.ballot(of: voter), before?.tally.options[Int(ballot.option)] != option,
               before?.tally.options.contains(option) == true, before?.tally.isOpen == true {
                moves += 1
            }
            let expected = Self.viaEvent(&reference, event)
            let actual = Self.viaRecord(&subject, encoded(event))
            #expect(actual == expected, "step \(step): \(event)")
            seen[Self.kindOf(expected), default: 0] += 1
            // An event touches its own poll only: compare that one each step, and every poll now and then.
            #expect(subject.state(of: poll) == reference.state(of: poll), "step \(step): \(event)")
            if case .failed = actual { #expect(subject.state(of: poll) == before, "a failure changed the state at step \(step)") }
            #expect(subject.pollCount == reference.pollCount)
            if step % 250 == 0 { #expect(subject.polls == reference.polls, "step \(step)") }
        }
        #expect(subject.polls == reference.polls)
        #expect(subject.tallies == reference.tallies)
        // The stream exercised every rule a logged event can break, and moves as well as first votes.
        for kind in ["applied", "pollExists", "noSuchPoll", "noSuchOption", "pollClosed", "noVote", "tooFewOptions",
                     "repeatedOption", "tooManyOptions", "unchangedVote"] {
            #expect(seen[kind, default: 0] > 0, "never saw \(kind): \(seen)")
        }
        #expect(moves > 10)
    }

    @Test("records prepared several records before they are applied (replay's pipeline) apply as if read one by one",
          arguments: [(UInt64(11), 1), (12, 3), (13, 8), (14, 8), (15, 15)])
    func preparedAhead(_ seed: UInt64, _ distance: Int) {
        var commands = Commands(seed: seed)
        let limits = Projection.Limits(maxOptions: 5)
        var reference = Projection(limits: limits)
        var payloads: [[UInt8]] = []
        var expected: [Outcome] = []
        for step in 0..<3000 {
            let event = Event(seq: UInt64(step + 1), timestampMs: 0, body: commands.next(reference))
            expected.append(Self.viaEvent(&reference, event))
            payloads.append(encoded(event))
        }
        var subject = Projection(limits: limits)
        var prepared: [PreparedRecord] = []
        for payload in payloads.prefix(distance) { prepared.append(payload.withUnsafeBytes { subject.prepare(record: $0) }) }
        // Votes prepared before their poll existed (so read in full when applied), and votes refused after being prepared.
        var preparedTooEarly = 0, refusedPrepared = 0
        for (step, payload) in payloads.enumerated() {
            if step + distance < payloads.count {
                prepared.append(payloads[step + distance].withUnsafeBytes { subject.prepare(record: $0) })
            }
            let actual: Outcome = payload.withUnsafeBytes { raw in
                do throws(Projection.RecordFailure) {
                    let (seq, applied) = try subject.apply(record: raw, prepared: prepared[step])
                    return applied ? .applied(seq) : .skipped(seq)
                } catch {
                    return .failed(error)
                }
            }
            #expect(actual == expected[step], "step \(step)")
            if prepared[step].position < 0, case .applied = actual, payload[0] == 2 || payload[0] == 3 { preparedTooEarly += 1 }
            if prepared[step].position >= 0, case .failed = actual { refusedPrepared += 1 }
        }
        #expect(subject.polls == reference.polls)
        #expect(subject.tallies == reference.tallies)
        #expect(refusedPrepared > 0)
        if distance > 1 { #expect(preparedTooEarly > 0) }
    }

    @Test("a payload that does not decode fails as .undecodable with decode's error, changing nothing")
    func undecodable() throws {
        var projection = Projection()
        try projection.apply(Event(seq: 1, timestampMs: 0, body: .pollCreated(poll: "p", options: ["a", "b"], question: "")))
        try projection.apply(Event(seq: 2, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a")))
        let before = projection.polls
        let valid: [Event] = [
            Event(seq: 3, timestampMs: 0, body: .pollCreated(poll: "q", options: ["x", "y"], question: "Why?")),
            Event(seq: 3, timestampMs: 0, body: .voteCast(poll: "p", voter: "w", option: "b")),
            Event(seq: 3, timestampMs: 0, body: .voteRetracted(poll: "p", voter: "v")),
            Event(seq: 3, timestampMs: 0, body: .pollClosed(poll: "p")),
        ]
        var cases: [[UInt8]] = []
        for event in valid {
            let bytes = encoded(event)
            for length in 0..<bytes.count { cases.append(Array(bytes.prefix(length))) }
            cases.append(bytes + [0])
            for position in EventView.headSize..<bytes.count {
                var bad = bytes
                bad[position] = UInt8(ascii: " ")
                cases.append(bad)
            }
            var kind = bytes
            kind[0] = 9
            cases.append(kind)
        }
        // A creation with a question that is not UTF-8, and one with a bad option id.
        var question = encoded(valid[0])
        question[question.count - 1] = 0xFF
        cases.append(question)
        var option = encoded(valid[0])
        option[EventView.headSize + 1 + 1 + 1 + 1] = UInt8(ascii: "#")
        cases.append(option)
        var undecodable = 0
        for bytes in cases {
            guard case .failure(let error) = decodeRawResult(bytes) else { continue }
            undecodable += 1
            for unlessCovered in [false, true] {
                #expect(Self.viaRecord(&projection, bytes, unlessCovered: unlessCovered) == .failed(.undecodable(error)), "\(bytes)")
                #expect(projection.polls == before)
            }
        }
        #expect(undecodable > 100)
        #expect(decodeRawResult(question) == .failure(.invalidQuestion))
    }

    @Test("after a snapshot: apply(record:unlessCovered:) ≡ applyUnlessCovered, covered junk included", arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func matchesApplyUnlessCovered(_ seed: UInt64) throws {
        var rng = SplitMix64(seed: 900 + seed)
        let events = try randomHistory(seed: seed, events: 600, polls: 8, voters: 30)
        let full = try replayed(events)
        var skipped = 0, applied = 0, failed = 0
        for _ in 0..<4 {
            let shards = Int.random(in: 1...4, using: &rng)
            let watermarks = (0..<shards).map { _ in UInt64.random(in: 0...UInt64(events.count), using: &rng) }
            let snapshot = try SnapshotCodec.decode(SnapshotCodec.encode(try cutSnapshot(events, watermarks: watermarks)))
            var reference = restored(snapshot)
            var subject = restored(snapshot)
            #expect(subject.polls == reference.polls)
            var commands = Commands(seed: seed, polls: (0..<8).map { "poll-\($0)" } + ["never"], voters: (0..<30).map { "v\($0)" })
            for event in events where event.seq > snapshot.seq {
                // Now and then an event that is covered (an old seq) or breaks a rule (the current seq).
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    let body = commands.next(reference)
                    let seq = Bool.random(using: &rng) ? UInt64.random(in: 1...event.seq, using: &rng) : event.seq
                    let junk = Event(seq: seq, timestampMs: 0, body: body)
                    let before = subject.polls
                    let expected = Self.viaEvent(&reference, junk, unlessCovered: true)
                    #expect(Self.viaRecord(&subject, encoded(junk), unlessCovered: true) == expected, "\(junk)")
                    if case .applied = expected {
                        // A junk event that happened to be valid would change the history; undo it on both.
                        reference = restored(snapshot)
                        subject = restored(snapshot)
                        for replay in events where replay.seq > snapshot.seq && replay.seq < event.seq {
                            try reference.applyUnlessCovered(replay)
                            try subject.applyUnlessCovered(replay)
                        }
                    } else {
                        #expect(subject.polls == before)
                    }
                    switch expected {
                    case .skipped: skipped += 1
                    case .failed: failed += 1
                    case .applied: break
                    }
                }
                let expected = Self.viaEvent(&reference, event, unlessCovered: true)
                #expect(Self.viaRecord(&subject, encoded(event), unlessCovered: true) == expected, "\(event)")
                if case .applied = expected { applied += 1 } else if case .skipped = expected { skipped += 1 }
                #expect(subject.polls == reference.polls, "seq \(event.seq)")
            }
            #expect(subject.polls == full.polls, "watermarks \(watermarks)")
        }
        #expect(skipped > 0 && applied > 0 && failed > 0, "skipped \(skipped) applied \(applied) failed \(failed)")
    }

    @Test("unlessCovered skips a covered vote without checking it, but not one of a poll the state lacks")
    func coveredVotes() throws {
        var projection = Projection()
        try projection.apply(Event(seq: 1, timestampMs: 0, body: .pollCreated(poll: "p", options: ["a", "b"], question: "")))
        try projection.apply(Event(seq: 5, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "a")))
        try projection.apply(Event(seq: 6, timestampMs: 0, body: .pollClosed(poll: "p")))
        let before = projection.polls
        // Each would break a rule; each is covered (seq ≤ 6), so skipped.
        for body: EventBody in [.voteCast(poll: "p", voter: "v", option: "a"), .voteCast(poll: "p", voter: "w", option: "zz"),
                                .voteRetracted(poll: "p", voter: "nobody"), .pollClosed(poll: "p"),
                                .pollCreated(poll: "p", options: ["a", "b"], question: "")] {
            for seq in [UInt64(1), 3, 6] {
                let payload = encoded(Event(seq: seq, timestampMs: 0, body: body))
                #expect(Self.viaRecord(&projection, payload, unlessCovered: true) == .skipped(seq))
                // Without the flag each is refused.
                if case .failed(.rule) = Self.viaRecord(&projection, payload) {} else { Issue.record("\(body) at \(seq) was not refused") }
            }
        }
        #expect(projection.polls == before)
        // Seq 7 is not covered: the closed poll refuses it.
        #expect(Self.viaRecord(&projection, encoded(Event(seq: 7, timestampMs: 0, body: .voteCast(poll: "p", voter: "w", option: "b"))), unlessCovered: true)
            == .failed(.rule(.pollClosed("p"))))
        // A poll the state does not hold is never covered.
        #expect(Self.viaRecord(&projection, encoded(Event(seq: 2, timestampMs: 0, body: .voteCast(poll: "q", voter: "w", option: "b"))), unlessCovered: true)
            == .failed(.rule(.noSuchPoll("q"))))
        #expect(projection.polls == before)
    }

    @Test("the seq returned is the event's, and the effect on the tally is the one apply gives")
    func returnedSeqAndEffects() throws {
        var projection = Projection()
        let steps: [(EventBody, [Int])] = [
            (.pollCreated(poll: "p", options: ["a", "b", "c"], question: ""), [0, 0, 0]),
            (.voteCast(poll: "p", voter: "v", option: "b"), [0, 1, 0]),
            (.voteCast(poll: "p", voter: "w", option: "b"), [0, 2, 0]),
            (.voteCast(poll: "p", voter: "v", option: "c"), [0, 1, 1]),
            (.voteRetracted(poll: "p", voter: "w"), [0, 0, 1]),
            (.voteCast(poll: "p", voter: "w", option: "a"), [1, 0, 1]),
        ]
        for (index, (body, counts)) in steps.enumerated() {
            let seq = UInt64(10 * (index + 1))
            #expect(Self.viaRecord(&projection, encoded(Event(seq: seq, timestampMs: 0, body: body))) == .applied(seq))
            #expect(projection.tally("p")?.counts == counts)
            #expect(projection.tally("p")?.lastSeq == seq)
        }
        #expect(projection.state(of: "p")?.ballot(of: "v") == PollState.Ballot(option: 2, seq: 40))
        #expect(projection.state(of: "p")?.ballot(of: "w") == PollState.Ballot(option: 0, seq: 60))
        // A repeat leaves the ballot's seq as it was.
        #expect(Self.viaRecord(&projection, encoded(Event(seq: 70, timestampMs: 0, body: .voteCast(poll: "p", voter: "v", option: "c"))))
            == .failed(.rule(.unchangedVote(poll: "p", voter: "v"))))
        #expect(projection.state(of: "p")?.ballot(of: "v") == PollState.Ballot(option: 2, seq: 40))
        #expect(projection.tally("p")?.lastSeq == 60)
    }

    @Test("many polls: the poll index finds each by its bytes as it grows")
    func manyPolls() throws {
        var reference = Projection()
        var subject = Projection()
        for index in 0..<700 {
            let create = Event(seq: UInt64(2 * index + 1), timestampMs: 0, body: .pollCreated(poll: "poll\(index)", options: ["a", "b"], question: ""))
            #expect(Self.viaRecord(&subject, encoded(create)) == Self.viaEvent(&reference, create))
            // A vote in an earlier poll, found through the index.
            let vote = Event(seq: UInt64(2 * index + 2), timestampMs: 0, body: .voteCast(poll: "poll\(index * 7 % (index + 1))", voter: "v\(index)", option: "b"))
            #expect(Self.viaRecord(&subject, encoded(vote)) == Self.viaEvent(&reference, vote))
        }
        #expect(subject.pollCount == 700)
        #expect(subject.polls == reference.polls)
        for index in 0..<700 { #expect(subject.state(of: "poll\(index)") == reference.state(of: "poll\(index)")) }
        #expect(subject.state(of: "poll700") == nil && subject.state(of: "poll") == nil && subject.state(of: "") == nil)
    }

    @Test("prepare changes nothing, whatever the payload")
    func prepareChangesNothing() throws {
        let events = try randomHistory(seed: 77, events: 400)
        var projection = try replayed(events)
        let before = projection.polls
        var payloads = events.map(encoded)
        payloads.append(contentsOf: [[], [2], Array(repeating: 2, count: 40), encoded(Event(seq: 1, timestampMs: 0, body: .voteCast(poll: "zz", voter: "v", option: "a")))])
        for payload in payloads {
            payload.withUnsafeBytes { raw in
                _ = projection.prepare(record: raw)
                _ = projection.prepare(record: raw)
            }
        }
        #expect(projection.polls == before)
        // The same payloads still apply (or fail) as they would have.
        var reference = try replayed(events)
        let extra = Event(seq: 401, timestampMs: 0, body: .voteCast(poll: "poll-0", voter: "newcomer", option: "o1"))
        #expect(Self.viaRecord(&projection, encoded(extra)) == Self.viaEvent(&reference, extra))
        #expect(projection.polls == reference.polls)
    }
}
