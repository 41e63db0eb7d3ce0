@testable import PollTallyCore
import PollTallyTestSupport

/// A random history the server could have logged: polls created, votes cast, moved and retracted,
/// a few polls closed; every event one that `decide` accepted.
func randomHistory(seed: UInt64, events count: Int, polls: Int = 6, voters: Int = 25) throws -> [Event] {
    var rng = SplitMix64(seed: seed)
    var projection = Projection()
    var events: [Event] = []
    var pollIDs: [String] = []
    var attempts = 0
    while events.count < count && attempts < count * 50 {
        attempts += 1
        let roll = Int.random(in: 0..<100, using: &rng)
        let body: EventBody
        if pollIDs.isEmpty || (pollIDs.count < polls && roll < 6) {
            let id = "poll-\(pollIDs.count)"
            pollIDs.append(id)
            let options = (0..<Int.random(in: 2...5, using: &rng)).map { "o\($0)" }
            body = .pollCreated(poll: id, options: options, question: roll % 2 == 0 ? "Which one, \(id)? ✓" : "")
        } else {
            let poll = pollIDs[Int.random(in: 0..<pollIDs.count, using: &rng)]
            let voter = "v\(Int.random(in: 0..<voters, using: &rng))"
            let optionCount = projection.tally(poll)?.options.count ?? 2
            switch roll {
            case 0..<75: body = .voteCast(poll: poll, voter: voter, option: "o\(Int.random(in: 0..<optionCount, using: &rng))")
            case 75..<98: body = .voteRetracted(poll: poll, voter: voter)
            default: body = .pollClosed(poll: poll)
            }
        }
        guard projection.decide(body) == .append else { continue }
        let event = Event(seq: UInt64(events.count + 1), timestampMs: 1_700_000_000_000, body: body)
        try projection.apply(event)
        events.append(event)
    }
    return events
}

/// The shard of `poll` among `count`, as any stable function of the id would do.
func testShard(of poll: String, count: Int) -> Int {
    Int(poll.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) } % UInt32(count))
}

/// What the snapshotter takes from live shards: each shard's polls with exactly its events up to
/// its own watermark; seq is the lowest watermark, maxSeq the highest.
func cutSnapshot(_ events: [Event], watermarks: [UInt64]) throws -> Snapshot {
    var projections = Array(repeating: Projection(), count: watermarks.count)
    for event in events {
        let shard = testShard(of: event.body.poll, count: watermarks.count)
        if event.seq <= watermarks[shard] { try projections[shard].apply(event) }
    }
    return Snapshot(seq: watermarks.min() ?? 0, maxSeq: watermarks.max() ?? 0, sections: projections.map(\.polls))
}

/// The full replay of `events`.
func replayed(_ events: [Event]) throws -> Projection {
    var projection = Projection()
    for event in events { try projection.apply(event) }
    return projection
}

/// One projection holding every section of `snapshot`.
func restored(_ snapshot: Snapshot) -> Projection {
    var polls: [String: PollState] = [:]
    for section in snapshot.sections { polls.merge(section) { first, _ in first } }
    return Projection(restoring: polls)
}

/// `bytes` with every checksum recomputed (each section's in the table, then the trailer over the
/// header and table), so only the decoder's field checks can refuse it.
func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    let trailer = bytes.count - 4
    // Damaged counts and offsets are clamped to the file: this seals whatever the bytes say.
    func u64(_ at: Int) -> Int { Int(min(bytes[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, UInt64(trailer))) }
    let sections = min(Int(bytes[12]) | Int(bytes[13]) << 8, SnapshotCodec.maxSections)
    let tableEnd = SnapshotCodec.headerSize + sections * SnapshotCodec.sectionEntrySize
    for index in 0..<sections where SnapshotCodec.headerSize + (index + 1) * SnapshotCodec.sectionEntrySize <= trailer {
        let entry = SnapshotCodec.headerSize + index * SnapshotCodec.sectionEntrySize
        let start = u64(entry), end = min(start + u64(entry + 8), trailer)
        bytes.storeLittleEndian(CRC32C.checksum(bytes[start..<end]), at: entry + 24)
    }
    bytes.storeLittleEndian(CRC32C.checksum(bytes[..<min(tableEnd, trailer)]), at: trailer)
    return bytes
}

/// Decodes `bytes`, capturing the typed error.
func decodeSnapshot(_ bytes: [UInt8]) -> Result<Snapshot, SnapshotCodec.DecodeError> {
    do throws(SnapshotCodec.DecodeError) {
        return .success(try SnapshotCodec.decode(bytes))
    } catch {
        return .failure(error)
    }
}
