import PollTallyCore
import PollTallyLog
import Synchronization

/// A projection actor: owns the full state of its share of the polls, validates commands for them
/// in arrival order, appends the resulting events to the log and answers once they are durable.
///
/// Polls are spread over shards by a hash of their id (see `ShardRouter`), so commands for
/// different polls run in parallel while those of one poll are applied in log order.
///
/// Every reply is *gated*: it is released only when the log is durable up to the seq of the state
/// it was decided on, so a client never hears of a vote that could still be lost. The same moment
/// moves the durable `TallyBoard` (which reads and watchers see) by the events' effects.
actor PollShard {
    private nonisolated let executor: DispatchQueueExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    /// Batches handed over by connections and not yet taken, in arrival order. A lock, not a
    /// queue job per batch: a busy shard takes everything that arrived while it worked in one
    /// go, and writes the log and releases replies once for all of it.
    private nonisolated let inbox = Mutex(Inbox())

    private struct Inbox {
        var batches: [ShardBatch] = []
        /// A `drainInbox` job is queued or running; later batches only join the inbox.
        var scheduled = false
    }

    private(set) var projection: Projection
    private let log: LogWriter
    private let board: TallyBoard
    private let hub: WatchHub
    /// Where this shard's polls sit on the board.
    private var boardPlaces = TallyBoard.Places()

    /// Effects of accepted events, in seq order, not yet on the board.
    private var pendingEffects: [PendingEffect] = []
    /// Replies waiting for the log to be durable up to `gate`.
    private var gated: [GatedReply] = []
    private var durableSeq: UInt64
    private var failure: LogFailure?

    private struct GatedReply {
        var gate: UInt64
        var sink: any ReplySink
        var slot: Int
        var text: String
        /// For a read: the poll to answer from the durable board instead, should the log fail first.
        var readPoll: (poll: String, request: Request)?
    }

    init(index: Int, projection: Projection, log: LogWriter, board: TallyBoard, durableSeq: UInt64, hub: WatchHub) {
        self.executor = DispatchQueueExecutor(label: "polltally.shard.\(index)")
        self.projection = projection
        self.log = log
        self.board = board
        self.durableSeq = durableSeq
        self.hub = hub
    }

    /// Runs `work` on this actor, in FIFO order with every other `enqueue`, without a `Task`.
    nonisolated func enqueue(_ work: @escaping @Sendable (isolated PollShard) -> Void) {
        executor.queue.async { self.assumeIsolated(work) }
    }

    /// Runs `work` on this actor and returns when it has run, in FIFO order with `enqueue`. When
    /// the actor is idle, Dispatch runs `work` on the calling thread, so no thread is woken. Only
    /// for callers the actor never waits on: the log writer, and an event loop at the end of its
    /// round, outside every connection's queue (`start`). Connections `post` to the inbox, since
    /// blocking their threads on a busy shard cost a fifth of the throughput at 64 × 64.
    nonisolated func perform(_ work: (isolated PollShard) -> Void) {
        executor.queue.sync { self.assumeIsolated(work) }
    }

    /// Hands `batch` to this shard: after every batch posted before it, from any connection.
    ///
    /// From an event loop's round (`loop`), the shard is started when the round's handlers are
    /// done, with everything they posted (`start`).
    nonisolated func post(_ batch: ShardBatch, from loop: EventLoop? = nil) {
        let schedule = inbox.withLock { inbox in
            inbox.batches.append(batch)
            guard !inbox.scheduled else { return false }
            inbox.scheduled = true
            return true
        }
        guard schedule else { return }
        if let loop {
            loop.atRoundEnd { self.start(onLoop: true) }
        } else {
            start(onLoop: false)
        }
    }

    /// Starts draining the inbox, which `post` marked scheduled: on the idle log writer's thread
    /// for a lone client under `always`; on the event loop's thread itself when the round left
    /// this shard little to do; otherwise as a job on the shard's queue.
    private nonisolated func start(onLoop: Bool) {
        let waiting = inbox.withLock { inbox in inbox.batches.reduce(0) { $0 + $1.count } }
        // A lone client's batch: decided on the idle log writer's thread, which then syncs it,
        // rather than on a shard thread woken for it (one thread wake-up less per vote). Only a
        // small one, and the writer takes at most `writerDrainBudget` requests: every other
        // shard's appends wait for the writer meanwhile, so a client pipelining thousands of
        // requests is answered on the shard's own thread as before.
        if waiting <= Self.writerDrainBudget,
           log.runOnIdleWriter({ self.perform { $0.drainInbox(budget: Self.writerDrainBudget) } }) { return }
        if onLoop, waiting <= Self.loopDrainLimit {
            perform { $0.drainInbox() }
            return
        }
        enqueue { $0.drainInbox() }
    }

    /// The most requests an event loop decides itself for a shard at the end of its round
    /// (`start`). Below it, a thread wake-up for the shard costs more than the work (at 16 × 16,
    /// eight votes a read and shard: `interval` 557 k → 697 k votes/s, server CPU a third less);
    /// above it the work goes to the shard's own thread and the other core (64 × 64 the same
    /// either way), and the loop, which every connection waits on, is held at most about 100 µs.
    static let loopDrainLimit = 128

    /// The most requests the log writer's thread decides in one go for a shard (`start`).
    static let writerDrainBudget = 64

    /// Takes the batches waiting in the inbox (all of them, or whole batches up to `budget`
    /// requests, at least one) and answers them. If more are left or arrived meanwhile, queues
    /// itself again rather than loop, so the log writer's catch-up (`perform`) gets its turn.
    private func drainInbox(budget: Int = .max) {
        var batches: [ShardBatch] = []
        inbox.withLock { inbox in
            var taken = 0, requests = 0
            while taken < inbox.batches.count, taken == 0 || requests + inbox.batches[taken].count <= budget {
                requests += inbox.batches[taken].count
                taken += 1
            }
            if taken == inbox.batches.count {
                swap(&batches, &inbox.batches)
            } else {
                batches = Array(inbox.batches.prefix(taken))
                inbox.batches.removeFirst(taken)
            }
        }
        prefetchBallots(of: batches)
        for batch in batches { answer(batch) }
        finishBatches()
        let again = inbox.withLock { inbox in
            if inbox.batches.isEmpty { inbox.scheduled = false }
            return inbox.scheduled
        }
        if again { enqueue { $0.drainInbox() } }
    }

    /// Asks for the ballot slot of every vote of the round before the first is decided
    /// (`Projection.prefetchBallot`): one cache miss per vote, overlapped, instead of one wait each.
    private func prefetchBallots(of batches: [ShardBatch]) {
        inPlace { projection in
            for batch in batches {
                for (_, item) in batch.items {
                    switch item {
                    case .vote(let vote):
                        batch.withVote(vote) { poll, voter, _ in projection.prefetchBallot(poll: poll, voter: voter) }
                    case .request(.command(let body)):
                        projection.prefetchBallot(of: body)
                    case .request:
                        break
                    }
                }
            }
        }
    }

    /// Runs `body` on the projection in place: every lookup in the projection goes through here.
    /// Calling a non-mutating method on the stored property (through `self`, or from a closure)
    /// copied the whole `Projection` first: a retain and a release of each of its buffers,
    /// several times a vote.
    private func inPlace<Result>(_ body: (inout Projection) -> Result) -> Result {
        body(&projection)
    }

    /// Answers each request of `batch`, in order: commands are validated and appended, reads are
    /// rendered from the state as it stands between the connection's earlier and later commands.
    private func answer(_ batch: ShardBatch) {
        var immediate: [(slot: Int, text: String)] = []
        for (slot, item) in batch.items {
            let text: String
            let gate: UInt64
            var readPoll: (poll: String, request: Request)?
            switch item {
            case .vote(let vote):
                (text, gate) = batch.withVote(vote) { handleVote(poll: $0, voter: $1, option: $2) }
            case .request(.command(let body)):
                (text, gate) = handle(body)
            case .request(let request):
                switch request {
                case .tally(let poll), .results(let poll):
                    (text, gate) = read(request, poll: poll)
                    readPoll = (poll, request)
                default:
                    (text, gate) = (ProtocolError(.badRequest, "not a request for one poll").line, 0)
                }
            }
            if gate <= durableSeq {
                immediate.append((slot, text))
            } else {
                gated.append(GatedReply(gate: gate, sink: batch.sink, slot: slot, text: text, readPoll: readPoll))
            }
        }
        if !immediate.isEmpty { batch.sink.deliver(immediate) }
    }

    /// Under `interval`/`never`, after a round of batches: writes the log here and releases at
    /// once, rather than wake the writer thread and wait for it to come back.
    private func finishBatches() {
        if !gated.isEmpty && log.appendersWrite {
            // Another shard's write may have taken these events already; `writePending` then
            // waits for it to finish, so they are written when it returns.
            log.writePending()
            logChanged()
        }
    }

    /// Renders a read of one poll from the accepted state; it is released once that state is durable.
    private func read(_ request: Request, poll: String) -> (String, UInt64) {
        if failure != nil {
            // Accepted state may hold events that will never be durable: answer from the durable board.
            guard let tally = board.tally(poll) else { return (TallyRule.noSuchPoll(poll).protocolError.line, 0) }
            return (Self.render(request, tally), 0)
        }
        guard let tally = inPlace({ $0.tally(poll) }) else { return (TallyRule.noSuchPoll(poll).protocolError.line, 0) }
        return (Self.render(request, tally), tally.lastSeq)
    }

    private static func render(_ request: Request, _ tally: Tally) -> String {
        if case .results = request { return ReplyFormat.resultsBlock(tally).joined(separator: "\n") }
        return ReplyFormat.tallyLine(tally)
    }

    /// Decides one command; returns its reply and the seq that must be durable before it is sent.
    private func handle(_ body: EventBody) -> (String, UInt64) {
        // A vote has one path, from its ids' bytes, whichever way it arrived.
        if case .voteCast(var poll, var voter, var option) = body {
            return poll.withUTF8 { poll in
                voter.withUTF8 { voter in
                    option.withUTF8 { option in
                        handleVote(poll: UnsafeRawBufferPointer(poll), voter: UnsafeRawBufferPointer(voter), option: UnsafeRawBufferPointer(option))
                    }
                }
            }
        }
        if let failure { return (Self.unavailable(failure), 0) }
        // The poll looked up once, its position handed to each step.
        let (position, stateSeq, decision) = inPlace { projection in
            let position = projection.position(of: body.poll)
            return (position, position.map { projection.lastSeq(at: $0) } ?? 0, projection.decide(body, at: position))
        }
        switch decision {
        case .rejected(let rule):
            return (rule.protocolError.line, stateSeq)
        case .unchanged(let seq):
            return (ReplyFormat.ok(seq), stateSeq)
        case .append:
            switch log.append(body) {
            case .failure(let failure):
                return (Self.unavailable(failure), 0)
            case .success(let receipt):
                let event = Event(seq: receipt.firstSeq, timestampMs: receipt.timestampMs, body: body)
                do {
                    let effect = try projection.applyDecided(event, at: position)
                    // A created poll takes the next position.
                    let place = position ?? inPlace { $0.pollCount } - 1
                    pendingEffects.append(PendingEffect(seq: event.seq, place: place, poll: body.poll, effect: effect))
                } catch {
                    // decide() said .append, so apply() cannot reject it; if it ever did, the event
                    // is logged but not counted, and replay would refuse the log at this seq.
                    return (ProtocolError(.unavailable, "internal error applying seq \(event.seq): \(error)").line, event.seq)
                }
                return (ReplyFormat.ok(event.seq), event.seq)
            }
        }
    }

    /// Decides one vote from its ids' bytes (a `VOTE` read by `VoteLine`, or a `voteCast` handed
    /// to `handle`): the reply and the seq that must be durable before it is sent.
    private func handleVote(poll: UnsafeRawBufferPointer, voter: UnsafeRawBufferPointer, option: UnsafeRawBufferPointer) -> (String, UInt64) {
        if let failure { return (Self.unavailable(failure), 0) }
        let log = self.log
        return inPlace { projection in
            guard let position = projection.position(of: poll) else {
                return (TallyRule.noSuchPoll(String(decoding: poll, as: UTF8.self)).protocolError.line, 0)
            }
            let stateSeq = projection.lastSeq(at: position)
            switch projection.decideVote(at: position, voter: voter, option: option) {
            case .rejected(let rule):
                return (rule.protocolError.line, stateSeq)
            case .unchanged(let seq):
                return (ReplyFormat.ok(seq), stateSeq)
            case .append(let index):
                switch log.appendVote(poll: poll, voter: voter, option: option) {
                case .failure(let failure):
                    return (Self.unavailable(failure), 0)
                case .success(let receipt):
                    let seq = receipt.firstSeq
                    do throws(TallyRule) {
                        let effect = try projection.castVote(at: position, voter: voter, option: index, seq: seq)
                        pendingEffects.append(PendingEffect(seq: seq, place: position, poll: projection.pollID(at: position), effect: effect))
                    } catch {
                        // decideVote said .append on this state, so this cannot happen; as in `handle`,
                        // the vote is then logged but not counted, and replay would refuse the log here.
                        return (ProtocolError(.unavailable, "internal error applying seq \(seq): \(error)").line, seq)
                    }
                    return (ReplyFormat.ok(seq), seq)
                }
            }
        }
    }

    /// Catches up with the log: moves the board and releases gated replies up to the durable seq.
    func logChanged() {
        var deliveries = ReplyDeliveries()
        catchUp(into: &deliveries)
        deliveries.deliver()
    }

    /// `logChanged`, but the released replies join `deliveries` for the caller to hand over: the
    /// log writer collects every shard's before it delivers any (`DurabilityFanOut`).
    func catchUp(into deliveries: inout ReplyDeliveries) {
        let counters = log.counters
        release(upTo: counters.durableSeq, into: &deliveries)
        if let failure = counters.failure, self.failure == nil {
            self.failure = failure
            pendingEffects.removeAll()
            let failed = gated
            gated.removeAll()
            // Writes that were never durable fail; reads are answered from the durable board.
            for reply in failed {
                if let (poll, request) = reply.readPoll {
                    let text = board.tally(poll).map { Self.render(request, $0) } ?? TallyRule.noSuchPoll(poll).protocolError.line
                    deliveries.add(reply.sink, slot: reply.slot, text: text)
                } else {
                    deliveries.add(reply.sink, slot: reply.slot, text: Self.unavailable(failure))
                }
            }
        }
    }

    private func release(upTo seq: UInt64, into deliveries: inout ReplyDeliveries) {
        guard seq > durableSeq else { return }
        durableSeq = seq
        // Fields read in place, here and below: copying each effect and reply out retained and
        // released its strings.
        var effectCount = 0
        while effectCount < pendingEffects.count, pendingEffects[effectCount].seq <= seq { effectCount += 1 }
        if effectCount > 0 {
            let hub = self.hub
            let changed = board.apply(pendingEffects[..<effectCount], places: &boardPlaces) { hub.hasWatchers }
            pendingEffects.removeFirst(effectCount)
            if !changed.isEmpty { hub.published(changed) }
        }
        for i in gated.indices where gated[i].gate <= seq { deliveries.add(gated[i].sink, slot: gated[i].slot, text: gated[i].text) }
        gated.removeAll { $0.gate <= seq }
    }

    private static func unavailable(_ failure: LogFailure?) -> String {
        ProtocolError(.unavailable, "the log cannot be written (\(failure.map { "\($0.operation): \($0.errno)" } ?? "failed")); reads still work").line
    }
}

extension PollShard {
    /// Blocks until every job enqueued so far has run, after a final look at the log (shutdown only).
    nonisolated func drain() {
        enqueue { $0.logChanged() }
        executor.queue.sync {}
    }
}
