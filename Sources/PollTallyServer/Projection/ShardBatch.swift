import PollTallyCore

/// One read's requests for one shard, in arrival order, each with its reply slot: commands, and
/// reads of single polls (which must see the connection's earlier commands and none of its
/// later ones).
///
/// A `VOTE` travels as its ids' bytes (`VoteLine`), copied into the batch's one `ids` buffer:
/// the most frequent request goes from the socket to the ballot table and the log record without
/// a `String`, whose copies and reference counting were a sixth of a vote's instructions.
struct ShardBatch: Sendable {
    /// A request as the shard receives it.
    enum Item: Sendable {
        case request(Request)
        case vote(VoteIDs)
    }

    /// Where a vote's ids lie in `ids`: the line from the poll's first byte to the option's last
    /// is copied whole (one copy, separators included), so each id is a range of it.
    struct VoteIDs: Sendable {
        var poll: Range<Int>
        var voter: Range<Int>
        var option: Range<Int>
    }

    let sink: any ReplySink
    private(set) var items: [(slot: Int, item: Item)] = []
    private(set) var ids: [UInt8] = []

    init(sink: any ReplySink) {
        self.sink = sink
    }

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func append(slot: Int, _ request: Request) {
        reserve()
        items.append((slot, .request(request)))
    }

    /// Adds the `VOTE` of `line`, whose ids `vote` locates.
    mutating func appendVote(slot: Int, line: UnsafeRawBufferPointer, _ vote: VoteLine) {
        reserve()
        if ids.isEmpty { ids.reserveCapacity(32 * 32) }
        let shift = ids.count - vote.poll.lowerBound
        ids.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[vote.poll.lowerBound..<vote.option.upperBound]))
        func moved(_ range: Range<Int>) -> Range<Int> { (range.lowerBound + shift)..<(range.upperBound + shift) }
        items.append((slot, .vote(VoteIDs(poll: moved(vote.poll), voter: moved(vote.voter), option: moved(vote.option)))))
    }

    /// A pipelining client sends a few dozen requests at a time: one allocation, not one per doubling.
    private mutating func reserve() {
        if items.isEmpty { items.reserveCapacity(32) }
    }

    /// Calls `body` with the poll, voter and option ids of `vote`, one of this batch's.
    func withVote<Result>(_ vote: VoteIDs, _ body: (_ poll: UnsafeRawBufferPointer, _ voter: UnsafeRawBufferPointer,
                                                    _ option: UnsafeRawBufferPointer) -> Result) -> Result {
        ids.withUnsafeBytes { ids in
            body(UnsafeRawBufferPointer(rebasing: ids[vote.poll]), UnsafeRawBufferPointer(rebasing: ids[vote.voter]),
                 UnsafeRawBufferPointer(rebasing: ids[vote.option]))
        }
    }
}
