import Testing
import PollTallyTestSupport
@testable import PollTallyLog
import PollTallyCore

@Suite("LogReplayer")
struct LogReplayerTests {
    static let counts = [1, 2, 3, 7]

    // MARK: - Histories and logs

    /// A random history the server could have logged (every event one `decide` accepted): polls
    /// created, votes cast, moved and retracted, some polls closed.
    static func history(seed: UInt64, events count: Int, polls: Int = 40, voters: Int = 60) -> [EventBody] {
        var rng = SplitMix64(seed: seed)
        var projection = Projection()
        var bodies: [EventBody] = []
        var created = 0
        while bodies.count < count {
            let roll = Int.random(in: 0..<1000, using: &rng)
            let body: EventBody
            if created == 0 || (created < polls && roll < 60) {
                let options = (0..<Int.random(in: 2...4, using: &rng)).map { "o\($0)" }
                body = .pollCreated(poll: "poll-\(created)", options: options, question: roll % 2 == 0 ? "Which, \(created)? ✓" : "")
                created += 1
            } else {
                let poll = "poll-\(Int.random(in: 0..<created, using: &rng))"
                let voter = "v\(Int.random(in: 0..<voters, using: &rng))"
                let options = projection.tally(poll)?.options ?? ["o0"]
                switch roll {
                case 0..<760: body = .voteCast(poll: poll, voter: voter, option: options.randomElement(using: &rng)!)
                case 760..<995: body = .voteRetracted(poll: poll, voter: voter)
                default: body = .pollClosed(poll: poll)
                }
            }
            guard projection.decide(body) == .append else { continue }
            try! projection.apply(Event(seq: UInt64(bodies.count + 1), timestampMs: 0, body: body))
            bodies.append(body)
        }
        return bodies
    }

    /// Writes `bodies` with the project's writer, in appends of `batch` events.
    static func write(_ path: String, _ bodies: [EventBody], segmentSize: Int64 = 8192, batch: Int = 150) throws {
        let batches = stride(from: 0, to: bodies.count, by: batch).map { Array(bodies[$0..<min($0 + batch, bodies.count)]) }
        try writeLog(path, batches: batches, options: EventLog.Options(fsync: .never, segmentSize: segmentSize))
    }

    /// A hand-made one-segment log (seq 1 on) of `payloads`; returns its path and each record's offset.
    static func writeSegment(_ folder: String, payloads: [[UInt8]]) throws -> (path: String, offsets: [Int64]) {
        var bytes = LogFileHeader(firstSeq: 1).encoded
        var offsets: [Int64] = []
        for payload in payloads {
            offsets.append(Int64(bytes.count))
            RecordFrame.append(to: &bytes) { $0 += payload }
        }
        let path = folder + "/" + LogDirectory.segmentName(firstSeq: 1)
        try writeFileBytes(path, bytes)
        return (path, offsets)
    }

    static func payload(_ seq: Int, _ body: EventBody) -> [UInt8] {
        var bytes: [UInt8] = []
        EventCodec.encode(Event(seq: UInt64(seq), timestampMs: 1_700_000_000_000, body: body), into: &bytes)
        return bytes
    }

    // MARK: - The two ways of applying a log

    /// The old way: `LogScanner.scan` and `Projection.apply` of each event, one at a time, rules
    /// broken reported as `.invalidEvent` at the event's record.
    static func sequential(
        _ path: String, fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, into start: Projection = Projection(), unlessCovered: Bool = false
    ) throws(LogError) -> (projection: Projection, summary: LogScanner.Summary) {
        var projection = start
        let summary = try LogScanner(directory: LogDirectory(path: path)).scan(fromSeq: fromSeq, throughSeq: throughSeq) { event, location throws(LogError) in
            do throws(TallyRule) {
                if unlessCovered { try projection.applyUnlessCovered(event) } else { try projection.apply(event) }
            } catch {
                throw .invalidEvent(path: location.path, offset: location.offset, seq: event.seq, reason: "\(error)")
            }
        }
        return (projection, summary)
    }

    static func sequentialError(_ path: String) -> LogError? {
        do throws(LogError) { _ = try sequential(path); return nil } catch { return error }
    }

    /// The new way, into `projections` (fresh ones when nil, `count` of them).
    static func replay(
        _ path: String, count: Int, into start: [Projection]? = nil, fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, unlessCovered: Bool = false,
        batchSize: Int = 65_536
    ) throws(LogError) -> (projections: [Projection], summary: LogScanner.Summary) {
        var projections = start ?? Array(repeating: Projection(), count: count)
        var replayer = LogReplayer(directory: LogDirectory(path: path))
        replayer.batchSize = batchSize
        let summary = try replayer.replay(into: &projections, fromSeq: fromSeq, throughSeq: throughSeq, unlessCovered: unlessCovered)
        return (projections, summary)
    }

    /// Batch sizes that make the scanner run ahead of the projections by many batches, by a few, and not at all.
    static let batchSizes = [1, 50, 65_536]

    /// The error replay throws, the same whatever the batch size (checked).
    static func replayError(_ path: String, count: Int) -> LogError? {
        let errors = batchSizes.map { size -> LogError? in
            do throws(LogError) { _ = try replay(path, count: count, batchSize: size); return nil } catch { return error }
        }
        #expect(Set(errors.map { $0.map(\.description) ?? "" }).count == 1, "errors differ by batch size: \(errors)")
        return errors[0]
    }

    /// Every poll of every projection, checking each sits in the projection `PollPartition` gives it.
    static func merged(_ projections: [Projection]) -> [String: PollState] {
        var all: [String: PollState] = [:]
        for (index, projection) in projections.enumerated() {
            for (poll, state) in projection.polls {
                #expect(PollPartition.index(of: poll, count: projections.count) == index, "\(poll) is in projection \(index)")
                #expect(all.updateValue(state, forKey: poll) == nil, "\(poll) is in two projections")
            }
        }
        return all
    }

    /// The merged tallies in poll-id order, as `polltally replay` prints them.
    static func tallies(_ projections: [Projection]) -> [Tally] {
        projections.flatMap(\.tallies).sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
    }

    /// `projection`'s polls split over `count` projections as `PollPartition` routes them.
    static func split(_ projection: Projection, count: Int) -> [Projection] {
        var parts = Array(repeating: [String: PollState](), count: count)
        for (poll, state) in projection.polls { parts[PollPartition.index(of: poll, count: count)][poll] = state }
        return parts.map { Projection(restoring: $0) }
    }

    // MARK: - Equal to the sequential replay

    @Test("a multi-segment log replayed into 1, 2, 3 and 7 projections gives the sequential replay's state, tallies and summary")
    func matchesSequential() throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 1, events: 3000))
            #expect(try LogDirectory(path: path).segments().count > 5)
            let (reference, referenceSummary) = try Self.sequential(path)
            #expect(reference.pollCount == 40)
            #expect(reference.tallies.contains { !$0.isOpen } && reference.tallies.contains { $0.total > 5 })
            for count in Self.counts {
              for batchSize in Self.batchSizes {
                let (projections, summary) = try Self.replay(path, count: count, batchSize: batchSize)
                #expect(projections.count == count)
                #expect(Self.merged(projections) == reference.polls, "\(count) projections")
                #expect(Self.tallies(projections) == reference.tallies, "\(count) projections")
                #expect(summary == referenceSummary, "\(count) projections")
                #expect(summary.events == 3000 && summary.lastSeq == 3000 && summary.tornTail == nil)
                // The polls really were shared out.
                #expect(projections.filter { $0.pollCount > 0 }.count == count)
              }
            }
        }
    }

    @Test("no projections given: one is made and gets every poll")
    func noProjections() throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 2, events: 300))
            let (projections, _) = try Self.replay(path, count: 0, into: [])
            #expect(projections.count == 1)
            #expect(projections.first?.polls == (try Self.sequential(path).projection.polls))
        }
    }

    @Test("an empty or absent folder replays to nothing, as it scans to nothing")
    func emptyFolder() throws {
        try withTempFolder { path in
            for folder in [path, path + "/absent"] {
                let (projections, summary) = try Self.replay(folder, count: 3)
                #expect(summary == LogScanner.Summary())
                #expect(projections.allSatisfy { $0.pollCount == 0 })
            }
        }
    }

    @Test("throughSeq: replay stops after that event, as the sequential replay does")
    func throughSeq() throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 3, events: 1500))
            let segments = try LogDirectory(path: path).segments()
            var stops: [UInt64] = [0, 1, 2, 750, 1499, 1500, 1501, .max]
            for segment in segments.dropFirst().prefix(3) { stops += [segment.firstSeq - 1, segment.firstSeq] }
            for through in stops {
                let (reference, referenceSummary) = try Self.sequential(path, throughSeq: through)
                for count in [1, 3] {
                    let (projections, summary) = try Self.replay(path, count: count, throughSeq: through)
                    #expect(Self.merged(projections) == reference.polls, "through \(through)")
                    #expect(summary == referenceSummary, "through \(through)")
                    #expect(summary.lastSeq == min(through, 1500))
                }
            }
        }
    }

    @Test("fromSeq: from the state of the events before it, replay gives the whole log's state")
    func fromSeq() throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 4, events: 1500))
            let full = try Self.sequential(path).projection
            let segments = try LogDirectory(path: path).segments()
            var starts: [UInt64] = [1, 2, 700, 1500, 1501]
            for segment in segments.dropFirst().prefix(3) { starts += [segment.firstSeq - 1, segment.firstSeq, segment.firstSeq + 1] }
            for from in starts {
                let before = try Self.sequential(path, throughSeq: from - 1).projection
                let referenceSummary = try Self.sequential(path, fromSeq: from, into: before).summary
                for count in [1, 2, 7] {
                    let (projections, summary) = try Self.replay(path, count: count, into: Self.split(before, count: count), fromSeq: from)
                    #expect(Self.merged(projections) == full.polls, "from \(from), \(count) projections")
                    #expect(summary == referenceSummary, "from \(from)")
                    #expect(summary.events == 1501 - Int(from))
                }
            }
            // From the middle with fresh projections, the polls created before are missing: the events break a rule.
            if case .invalidEvent? = Self.replayErrorFrom(path, fromSeq: 700) {} else { Issue.record("fresh projections from seq 700 should fail") }
        }
    }

    static func replayErrorFrom(_ path: String, fromSeq: UInt64) -> LogError? {
        do throws(LogError) { _ = try replay(path, count: 3, fromSeq: fromSeq); return nil } catch { return error }
    }

    @Test("unlessCovered: projections restored at different watermarks catch up to the whole log", arguments: [UInt64(1), 2, 3])
    func unlessCovered(_ seed: UInt64) throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 10 + seed, events: 1500))
            let events = try scanAll(path).events
            let full = try Self.sequential(path).projection
            var rng = SplitMix64(seed: seed)
            var refusedWithoutTheRule = 0
            for count in [2, 3, 7] {
                // What a snapshot of live shards holds: each projection its own polls up to its own watermark.
                let watermarks = (0..<count).map { _ in UInt64.random(in: 0...1500, using: &rng) }
                var restored = Array(repeating: Projection(), count: count)
                for event in events {
                    let owner = PollPartition.index(of: event.body.poll, count: count)
                    if event.seq <= watermarks[owner] { try restored[owner].apply(event) }
                }
                let restoredStates = restored.map { Projection(restoring: $0.polls) }
                let from = watermarks.min()! + 1
                let (projections, summary) = try Self.replay(path, count: count, into: restoredStates, fromSeq: from, unlessCovered: true)
                #expect(Self.merged(projections) == full.polls, "watermarks \(watermarks)")
                #expect(summary.events == 1501 - Int(from))
                // The same through the sequential path, into one projection holding every restored poll.
                var one: [String: PollState] = [:]
                for part in restoredStates { one.merge(part.polls) { first, _ in first } }
                #expect(try Self.sequential(path, fromSeq: from, into: Projection(restoring: one), unlessCovered: true).projection.polls == full.polls)
                // Without unlessCovered the events a projection already holds are applied twice.
                if watermarks.max()! - watermarks.min()! > 100 {
                    do throws(LogError) {
                        _ = try Self.replay(path, count: count, into: restoredStates, fromSeq: from)
                    } catch {
                        if case .invalidEvent = error { refusedWithoutTheRule += 1 }
                    }
                }
            }
            #expect(refusedWithoutTheRule > 0)
        }
    }

    @Test("progress hears the running count of events read and where, up to the summary's count")
    func progress() throws {
        try withTempFolder { path in
            try Self.write(path, Self.history(seed: 5, events: 800))
            var heard: [(Int, LogScanner.Location)] = []
            var projections = Array(repeating: Projection(), count: 3)
            let summary = try LogReplayer(directory: LogDirectory(path: path)).replay(into: &projections) { events, location in
                heard.append((events, location))
            }
            #expect(!heard.isEmpty)
            #expect(heard.last?.0 == summary.events)
            #expect(zip(heard, heard.dropFirst()).allSatisfy { $0.0 < $1.0 })
            let locations = try scanAll(path).locations
            #expect(heard.last?.1 == locations.last)
        }
    }

    // MARK: - Failures

    @Test("a valid record holding an event that breaks a rule is .invalidEvent at its seq and offset, as sequential replay says")
    func invalidEvent() throws {
        for count in Self.counts {
            try withTempFolder { path in
                var bodies = Self.history(seed: 6, events: 900)
                bodies.insert(.voteCast(poll: "ghost", voter: "v1", option: "o0"), at: 600)  // seq 601
                try Self.write(path, bodies)
                let location = try scanAll(path).locations[600]
                let expected = LogError.invalidEvent(path: location.path, offset: location.offset, seq: 601,
                                                     reason: "\(TallyRule.noSuchPoll("ghost"))")
                #expect(Self.sequentialError(path) == expected)
                #expect(Self.replayError(path, count: count) == expected, "\(count) projections")
            }
        }
    }

    /// A poll id that is not in the log and that `PollPartition` gives to projection `index` of `count`.
    static func ghost(owner index: Int, count: Int) -> String {
        var number = 0
        while PollPartition.index(of: "ghost\(number)", count: count) != index { number += 1 }
        return "ghost\(number)"
    }

    @Test("when two projections fail in one batch, the earlier event's failure is reported, whichever projection it is in")
    func earliestFailureWins() throws {
        for count in [2, 3, 7] {
            for (first, second) in [(0, count - 1), (count - 1, 0), (1, count - 1)] where first != second {
                try withTempFolder { path in
                    var bodies = Self.history(seed: 7, events: 900)
                    let early = Self.ghost(owner: first, count: count), late = Self.ghost(owner: second, count: count)
                    bodies.insert(.voteRetracted(poll: late, voter: "v2"), at: 700)   // seq 701
                    bodies.insert(.pollClosed(poll: early), at: 200)                 // seq 201; the other becomes seq 702
                    // One segment, so one batch holds both.
                    try Self.write(path, bodies, segmentSize: 64 << 20)
                    #expect(try LogDirectory(path: path).segments().count == 1)
                    let location = try scanAll(path).locations[200]
                    let expected = LogError.invalidEvent(path: location.path, offset: location.offset, seq: 201,
                                                         reason: "\(TallyRule.noSuchPoll(early))")
                    #expect(Self.sequentialError(path) == expected)
                    #expect(Self.replayError(path, count: count) == expected, "\(count) projections, lanes \(first) then \(second)")
                }
            }
        }
    }

    @Test("a record that passes its checksum but does not decode is .corruptRecord with decode's reason, as scan says")
    func undecodableRecord() throws {
        let bodies = Self.history(seed: 8, events: 300)
        for count in Self.counts {
            for (position, damage) in [(150, "voter"), (150, "trailing"), (20, "option"), (299, "question")] {
                try withTempFolder { path in
                    var payloads = bodies.enumerated().map { Self.payload($0.offset + 1, $0.element) }
                    switch damage {
                    case "voter":
                        payloads[position] = Self.payload(position + 1, .voteCast(poll: "poll-0", voter: "bad voter", option: "o0"))
                    case "trailing":
                        payloads[position] = Self.payload(position + 1, .pollClosed(poll: "poll-1")) + [0, 0]
                    case "option":
                        payloads[position] = Self.payload(position + 1, .voteCast(poll: "poll-0", voter: "v1", option: ""))
                    default:
                        // A creation whose question is cut short.
                        payloads[position] = Array(Self.payload(position + 1, .pollCreated(poll: "new", options: ["a", "b"], question: "Why?")).dropLast())
                    }
                    let decodeError: EventCodec.DecodeError
                    do throws(EventCodec.DecodeError) {
                        _ = try EventCodec.decode(payloads[position][...])
                        Issue.record("\(damage) still decodes")
                        return
                    } catch {
                        decodeError = error
                    }
                    let (segment, offsets) = try Self.writeSegment(path, payloads: payloads)
                    let expected = LogError.corruptRecord(path: segment, offset: offsets[position], reason: decodeError.description)
                    #expect(scanError(path) == expected)
                    #expect(Self.replayError(path, count: count) == expected, "\(damage), \(count) projections")
                }
            }
        }
    }

    @Test("an undecodable record and an invalid event in one batch: whichever comes first is reported")
    func undecodableVersusInvalid() throws {
        let bodies = Self.history(seed: 9, events: 400)
        for count in [2, 3, 7] {
            for undecodableFirst in [true, false] {
                try withTempFolder { path in
                    var payloads = bodies.enumerated().map { Self.payload($0.offset + 1, $0.element) }
                    let (bad, invalid) = undecodableFirst ? (100, 300) : (300, 100)
                    // Undecodable: a poll id with a forbidden byte (it routes somewhere all the same).
                    payloads[bad] = Self.payload(bad + 1, .pollClosed(poll: "poll 1"))
                    payloads[invalid] = Self.payload(invalid + 1, .voteCast(poll: Self.ghost(owner: 1, count: count), voter: "v", option: "o0"))
                    let (segment, offsets) = try Self.writeSegment(path, payloads: payloads)
                    let expected = undecodableFirst
                        ? LogError.corruptRecord(path: segment, offset: offsets[bad], reason: EventCodec.DecodeError.invalidIdentifier.description)
                        : LogError.invalidEvent(path: segment, offset: offsets[invalid], seq: UInt64(invalid + 1),
                                                reason: "\(TallyRule.noSuchPoll(Self.ghost(owner: 1, count: count)))")
                    #expect(Self.sequentialError(path) == expected)
                    #expect(Self.replayError(path, count: count) == expected, "\(count) projections, undecodable first: \(undecodableFirst)")
                }
            }
        }
    }

    @Test("an invalid event in a full batch (a segment of more than 65,536 records) is reported at its own seq")
    func invalidEventInFullBatch() throws {
        try withTempFolder { path in
            var payloads = [Self.payload(1, .pollCreated(poll: "p", options: ["a", "b"], question: ""))]
            for seq in 2...70_000 {
                let body: EventBody = seq == 100
                    ? .voteCast(poll: "ghost", voter: "v", option: "a")
                    : .voteCast(poll: "p", voter: "v\(seq)", option: seq % 3 == 0 ? "a" : "b")
                payloads.append(Self.payload(seq, body))
            }
            let (segment, offsets) = try Self.writeSegment(path, payloads: payloads)
            let expected = LogError.invalidEvent(path: segment, offset: offsets[99], seq: 100, reason: "\(TallyRule.noSuchPoll("ghost"))")
            #expect(Self.sequentialError(path) == expected)
            for count in [1, 2] {
                #expect(Self.replayError(path, count: count) == expected, "\(count) projections")
            }
        }
    }

    // MARK: - Damage the scanner finds

    @Test("a torn tail is reported in the summary exactly as scan reports it, the events before it applied")
    func tornTail() throws {
        let bodies = Self.history(seed: 12, events: 1200)
        for damage in ["partial record", "cut record", "garbage", "short header"] {
            try withTempFolder { path in
                try Self.write(path, bodies)
                let segments = try LogDirectory(path: path).segments()
                let last = segments.last!.path
                var bytes = try readFileBytes(last)
                switch damage {
                case "partial record": bytes += Array(frame(Event(seq: 1201, timestampMs: 0, body: .pollClosed(poll: "poll-0"))).prefix(10))
                case "cut record": bytes.removeLast(3)
                case "garbage": bytes += [0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8, 9]
                default:
                    // A new last segment holding half a header.
                    try writeFileBytes(path + "/" + LogDirectory.segmentName(firstSeq: 1201), Array(LogFileHeader(firstSeq: 1201).encoded.prefix(11)))
                }
                if damage != "short header" { try writeFileBytes(last, bytes) }
                let (reference, referenceSummary) = try Self.sequential(path)
                #expect(referenceSummary.tornTail != nil, "\(damage)")
                for count in Self.counts {
                    let (projections, summary) = try Self.replay(path, count: count)
                    #expect(summary == referenceSummary, "\(damage), \(count) projections")
                    #expect(summary.tornTail == referenceSummary.tornTail)
                    #expect(Self.merged(projections) == reference.polls, "\(damage), \(count) projections")
                }
            }
        }
    }

    @Test("corruption in the middle of the log is thrown as scan throws it, the events before it checked first")
    func corruptionMidLog() throws {
        let bodies = Self.history(seed: 13, events: 1200)
        try withTempFolder { path in
            try Self.write(path, bodies)
            let locations = try scanAll(path).locations
            // Flip a payload byte of event 500: its checksum no longer holds, and valid records follow.
            var bytes = try readFileBytes(locations[499].path)
            bytes[Int(locations[499].offset) + RecordFrame.headerSize + 3] ^= 0x40
            try writeFileBytes(locations[499].path, bytes)
            let expected = LogError.corruptRecord(path: locations[499].path, offset: locations[499].offset,
                                                  reason: RecordFrame.Reason.badChecksum.description)
            #expect(scanError(path) == expected)
            for count in Self.counts { #expect(Self.replayError(path, count: count) == expected) }
        }
        // An invalid event before the damage, in the same segment, is what is reported.
        try withTempFolder { path in
            var withGhost = bodies
            withGhost[400] = .voteCast(poll: "ghost", voter: "v", option: "o0")
            try Self.write(path, withGhost, segmentSize: 64 << 20)
            let locations = try scanAll(path).locations
            var bytes = try readFileBytes(locations[499].path)
            bytes[Int(locations[499].offset) + RecordFrame.headerSize + 3] ^= 0x40
            try writeFileBytes(locations[499].path, bytes)
            let expected = LogError.invalidEvent(path: locations[400].path, offset: locations[400].offset, seq: 401,
                                                 reason: "\(TallyRule.noSuchPoll("ghost"))")
            #expect(Self.sequentialError(path) == expected)
            for count in Self.counts { #expect(Self.replayError(path, count: count) == expected, "\(count) projections") }
        }
    }
}
