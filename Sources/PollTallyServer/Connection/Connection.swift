import Dispatch
import PollTallyCore
import PollTallyLog
import Synchronization

/// One client: reads request lines, routes them, and writes one reply per request in order, plus
/// pushed `UPDATE` and `EVENT` lines when watching or tailing.
///
/// Confined to `queue` (hence `@unchecked Sendable`): every method runs there except `start`,
/// `ready` (the event loop's call), `deliver`, `logMoved` and `sweep`, which only hop onto it,
/// and `offer`, which works under `pushGate` (see `PushGate`: the hub may write an `UPDATE`
/// straight to an idle watcher's socket). The flow per readable event: read → frame lines →
/// parse → requests grouped by shard, one batch per shard into its inbox (`PollShard.post`) →
/// replies come back through `deliver` once durable → written in request order.
final class Connection: ReplySink, WatchSubscriber, TailSubscriber, EventLoopHandler, @unchecked Sendable {
    let id: Int
    let queue: DispatchQueue
    let context: ServerContext
    private let socket: Socket
    private let loop: EventLoop
    /// The registration with `loop`; 0 until `start` registered it.
    private var token: UInt64 = 0
    /// What the loop watches the socket for: reading while input is wanted, writing while output waits.
    private var interest: Readiness = []

    private var framer: LineFramer
    var slots = ReplySlots()
    /// Bytes queued for the socket; `output[outputSent...]` is not yet sent.
    private(set) var output: [UInt8] = []
    private(set) var outputSent = 0
    /// What is watched, what each watcher was given, and whether the hub may write to the socket
    /// directly. A `Mutex` because the hub's timer reads and writes it from its own queue, for a
    /// few dictionary operations (and, for an idle watcher, one non-blocking send).
    let pushGate = Mutex(PushGate())
    /// False once this connection closed the gate and has not opened it since; the gate can
    /// then only be closed, so `holdPushes` need not lock.
    var pushesMayBeOpen = false
    /// The `TAIL` this connection follows, if any.
    var tail: TailStream?
    /// Set while a `logMoved` wake-up is queued, so a busy log does not flood the queue.
    let tailWakeQueued = Atomic<Bool>(false)
    /// Whether the tail is awake in the `TailHub`, woken when the log's head moves. Not (parked) while its
    /// client leaves `TailStream.lowWater` unsent: then the socket's writable event pumps the
    /// tail again, and a wake-up per head move per stalled tail cost the voters a quarter of
    /// their throughput with 32 of them.
    var tailSubscribed = false
    private(set) var peerFinishedSending = false
    var quitting = false
    /// After a wrong `AUTH`, input is held (not read, not handled) until its delay is over.
    private var penalized = false
    private var heldInput: [UInt8] = []
    /// What this client may do; raised by `AUTH`.
    private(set) var access: AccessPolicy.Access
    private(set) var closed = false
    /// When the client last sent bytes, and when the socket last accepted some (monotonic ns).
    private(set) var lastRead = Connection.now()
    /// The hub's direct writes do not move it: the connection sets it when it takes the socket
    /// back from the hub (`holdPushes`), since nothing of its own waited while the hub wrote.
    var lastSendProgress = Connection.now()
    private let readBuffer: UnsafeMutableRawBufferPointer
    /// Commands and single-poll reads of the current read event, per shard index.
    private var scratchBatches: [ShardBatch] = []
    /// Handling a readiness from the event loop (`ready`), on its thread: shards given work are
    /// started at the end of the loop's round (`PollShard.post`).
    private var inLoopRound = false

    static let readChunk = 64 * 1024

    init(socket: Socket, context: ServerContext, target: DispatchQueue, loop: EventLoop) {
        self.id = context.makeConnectionID()
        self.socket = socket
        self.context = context
        self.queue = DispatchQueue(label: "polltally.conn.\(id)", target: target)
        self.framer = LineFramer(maxLine: context.config.maxLine)
        self.access = context.config.access.initialAccess
        self.loop = loop
        self.readBuffer = .allocate(byteCount: Self.readChunk, alignment: 16)
    }

    /// Registers with the event loop and starts reading.
    func start() {
        context.register(self)
        queue.async { [self] in
            guard !closed else { return }
            do throws(Errno) {
                interest = .readable
                token = try loop.register(fd: socket.fd, interest: interest, handler: self)
            } catch {
                // The kernel refused to watch one more socket (out of memory or epoll watches).
                interest = []
                closeWithLastWord(ProtocolError(.unavailable, "the server cannot watch this connection (epoll_ctl: \(error)); try again later").line)
            }
        }
    }

    /// Called on the loop's thread; runs on the queue, inline when the queue is idle, so a read
    /// costs no thread hand-off. Nothing on a connection's queue ever waits for a loop.
    func ready(_ readiness: Readiness) {
        queue.sync {
            guard !closed else { return }
            if !readiness.isDisjoint(with: .failed) { return abort() }
            inLoopRound = true
            defer { inLoopRound = false }
            if readiness.contains(.readable) { onReadable() }
            if readiness.contains(.writable) { onWritable() }
        }
    }

    // MARK: - Reading

    private func onReadable() {
        guard !closed else { return }
        do throws(Errno) {
            switch try socket.read(into: readBuffer) {
            case .bytes(let n):
                lastRead = Connection.now()
                consume(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            case .wouldBlock:
                return
            case .endOfFile:
                peerFinishedSending = true
                setReading(false)
                if heldInput.isEmpty && !penalized { finishInput() }
            }
        } catch {
            abort()
        }
    }

    /// Frames and handles `bytes`; what follows a wrong `AUTH` is held until its penalty is over.
    private func consume(_ bytes: UnsafeRawBufferPointer) {
        holdPushes()
        // Held input goes first: new bytes queue behind it, so requests keep their order.
        guard !penalized, heldInput.isEmpty, slots.count < context.config.maxPendingReplies else {
            heldInput.append(contentsOf: bytes)
            return
        }
        let used = framer.feed(bytes, emitUntilFalse: { handle($0, into: &scratchBatches) })
        if used < bytes.count { heldInput.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...])) }
        submitBatches()
        flush()
    }

    /// Handles input held back by a wrong `AUTH` or by the pending-replies limit, once allowed.
    private func resumeHeldInput() {
        guard !heldInput.isEmpty, !penalized, !closed, slots.count < context.config.maxPendingReplies,
              unsentBytes < context.config.maxOutput else { return }
        let held = heldInput
        heldInput.removeAll()
        held.withUnsafeBytes { consume($0) }
        if peerFinishedSending && heldInput.isEmpty && !penalized { finishInput() }
    }

    /// The client finished sending: a last line without `\n` still counts.
    private func finishInput() {
        holdPushes()
        framer.finish { _ = handle($0, into: &scratchBatches) }
        submitBatches()
        flush()
    }

    /// Handles one framed line; false when input must pause (after a wrong `AUTH`).
    private func handle(_ item: LineFramer.Framed, into batches: inout [ShardBatch]) -> Bool {
        guard !quitting else { return true }
        let line: UnsafeRawBufferPointer
        switch item {
        case .tooLong:
            _ = slots.append(.ready(ProtocolError(.lineTooLong, "request line longer than \(context.config.maxLine) bytes; discarded").line))
            return true
        case .line(let bytes):
            line = bytes
        }
        // The most frequent request, read in place: its ids go to the shard as bytes.
        if let vote = VoteLine(line), AccessPolicy.allowsCommands(access) {
            context.stats.requests.add(1, ordering: .relaxed)
            let slot = slots.append(.pending)
            let index = ShardRouter.shardIndex(of: UnsafeRawBufferPointer(rebasing: line[vote.poll]), count: context.router.shards.count)
            startBatches(&batches)
            batches[index].appendVote(slot: slot, line: line, vote)
            return slots.count < context.config.maxPendingReplies
        }
        guard let parsed = context.parser.parse(line) else { return true }
        context.stats.requests.add(1, ordering: .relaxed)
        switch parsed {
        case .failure(let error):
            _ = slots.append(.ready(error.line))
        case .success(let request) where !AccessPolicy.allows(access, request):
            let why = access == .none ? "send AUTH <token> first" : "this token is read-only"
            _ = slots.append(.ready(ProtocolError(.authRequired, why).line))
        case .success(.auth(let token)):
            return authenticate(token)
        case .success(.ping):
            _ = slots.append(.ready("PONG"))
        case .success(.help):
            _ = slots.append(.ready(ReplyFormat.helpBlock().joined(separator: "\n")))
        case .success(let request) where request.shardPoll != nil:
            let slot = slots.append(.pending)
            let index = ShardRouter.shardIndex(of: request.shardPoll ?? "", count: context.router.shards.count)
            startBatches(&batches)
            batches[index].append(slot: slot, request)
        case .success(let request):
            if request == .quit { quitting = true }
            _ = slots.append(.atHead(request))
        }
        // Stop framing once the unanswered requests reach the limit; the rest waits in heldInput.
        return slots.count < context.config.maxPendingReplies
    }

    /// Grants the token's access at once (later lines of the same read already see it). A wrong
    /// token is answered after `authFailureDelay`, and nothing more from this client is read or
    /// handled until then, so neither pipelining nor a right guess behind wrong ones saves time.
    private func authenticate(_ token: [UInt8]) -> Bool {
        let policy = context.config.access
        guard policy.requiresAuth else {
            _ = slots.append(.ready("OK no token is required"))
            return true
        }
        if let granted = policy.access(for: token) {
            access = granted
            _ = slots.append(.ready(granted == .full ? "OK" : "OK read-only"))
            return true
        }
        context.stats.authFailures.add(1, ordering: .relaxed)
        access = .none
        penalized = true
        setReading(false)
        let slot = slots.append(.pending)
        let delay = context.config.authFailureDelay.components
        let nanos = UInt64(delay.seconds) * 1_000_000_000 + UInt64(delay.attoseconds / 1_000_000_000)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanos))) { [self] in
            guard !closed else { return }
            slots.fill(slot, with: ProtocolError(.authFailed, "wrong token").line)
            penalized = false
            flush()
        }
        return false
    }

    /// A batch per shard for this read's requests, unless there is one already.
    private func startBatches(_ batches: inout [ShardBatch]) {
        if batches.isEmpty { batches = Array(repeating: ShardBatch(sink: self), count: context.router.shards.count) }
    }

    /// Everything this read produced, one batch per shard, into the shard's inbox (`post`: a job
    /// on the shard's queue only when none is pending).
    private func submitBatches() {
        guard !scratchBatches.isEmpty else { return }
        var firstSlot = Int.max, lastSlot = Int.min, posts = 0
        for (index, batch) in scratchBatches.enumerated() where !batch.isEmpty {
            context.router.shards[index].post(batch, from: inLoopRound ? loop : nil)
            posts += 1
            firstSlot = min(firstSlot, batch.items[0].slot)
            lastSlot = max(lastSlot, batch.items[batch.count - 1].slot)
        }
        if posts > 1 { slots.markSplitRead(firstSlot..<(lastSlot + 1)) }
        scratchBatches.removeAll(keepingCapacity: true)
    }

    // MARK: - Replies and pushed lines

    /// Fills the slots of `replies` and writes what is due. Synchronous: a shard, or the log
    /// writer after a sync, does the connection's write itself when the connection is idle
    /// instead of waking a thread for it. Called only from shard queues and the writer's thread;
    /// a connection never waits on either (it `post`s batches to shard inboxes), so the wait
    /// cannot close a cycle.
    func deliver(_ replies: [(slot: Int, text: String)]) {
        queue.sync { [self] in
            guard !closed else { return }
            for reply in replies { slots.fill(reply.slot, with: reply.text) }
            // One write for a read's replies, not one per shard that answered part of it.
            if slots.headWaitsForItsRead { return }
            flush()
        }
    }

    /// Moves every reply that is due into the output, then pushed lines, then writes; once all is
    /// sent, lets the hub write updates directly again.
    func flush() {
        repeat {
            // Replies wait in their slots rather than pile up in `output` past `maxOutput`.
            while unsentBytes < context.config.maxOutput, let slot = slots.popHead() {
                switch slot {
                case .ready(let text): appendReply(text)
                case .atHead(let request): appendReply(answer(request))
                case .pending: break
                }
            }
            if slots.isEmpty && unsentBytes < context.config.maxOutput { appendPendingUpdates() }
            writeOutput()
            // If the socket took everything, more due replies can go now: no event would wake us for them.
        } while !closed && unsentBytes < context.config.maxOutput && slots.headIsDue
        if tail != nil { pumpTail() }
        if !heldInput.isEmpty { resumeHeldInput() }
        reopenPushes()
    }

    // MARK: - Writing

    var unsentBytes: Int { output.count - outputSent }

    /// Appends a reply, counting error replies for `STATS`.
    private func appendReply(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            if bytes.starts(with: Self.errorPrefix) { context.stats.errors.add(1, ordering: .relaxed) }
            appendLine(bytes)
        }
    }

    private static let errorPrefix = Array("ERR ".utf8)

    func appendBytes(_ bytes: [UInt8]) {
        holdPushes()
        output.append(contentsOf: bytes)
    }

    func appendLine(_ text: String) {
        var text = text
        text.withUTF8 { appendLine($0) }
    }

    /// A line's bytes, copied at once (`String.UTF8View` went byte by byte), then its newline.
    private func appendLine(_ bytes: UnsafeBufferPointer<UInt8>) {
        holdPushes()
        output.append(contentsOf: bytes)
        output.append(UInt8(ascii: "\n"))
    }

    /// Makes `bytes`, of which the first `sent` already reached the socket, the output. Only for
    /// a direct push cut short, which happens only while the output is drained.
    func replaceDrainedOutput(with bytes: [UInt8], sent: Int) {
        guard unsentBytes == 0 else {
            // Not reached (the gate is open only while the output is drained); never reorder.
            output.append(contentsOf: bytes[sent...])
            return
        }
        output = bytes
        outputSent = sent
        lastSendProgress = Self.now()
    }

    /// One non-blocking send from outside the queue (a direct push, under `pushGate`): how many
    /// bytes the socket took; 0 when it took none or failed (the queue then finds out which).
    func sendNow(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw in
            guard case .bytes(let n)? = try? socket.send(raw) else { return 0 }
            return n
        }
    }

    private func onWritable() {
        guard !closed else { return }
        flush()
    }

    func writeOutput() {
        guard !closed else { return }
        if unsentBytes == 0 { lastSendProgress = Self.now() }
        while outputSent < output.count {
            let result: Result<Socket.IOResult, Errno> = output.withUnsafeBytes { raw in
                do throws(Errno) {
                    return .success(try socket.send(UnsafeRawBufferPointer(rebasing: raw[outputSent...])))
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .success(.bytes(let n)):
                outputSent += n
                lastSendProgress = Connection.now()
            case .success(.wouldBlock), .success(.endOfFile):
                if outputSent >= 64 * 1024 && outputSent * 2 >= output.count {
                    // Drop what is sent, but keep the start of the line in progress: the last word
                    // of a slow consumer must be able to complete it (closeWithLastWord).
                    let cut = output[..<outputSent].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                    output.removeFirst(cut)
                    outputSent -= cut
                }
                setWriting(true)
                updateReading()
                return
            case .failure:
                abort()
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 4 * Self.readChunk)
        outputSent = 0
        setWriting(false)
        updateReading()
        finishIfDone()
    }

    // MARK: - Life cycle

    /// Reads only while the client's unanswered requests and unsent replies are within bounds.
    private func updateReading() {
        let wanted = !peerFinishedSending && !quitting && !closed && !penalized && heldInput.isEmpty
            && unsentBytes < context.config.maxOutput && slots.count < context.config.maxPendingReplies
        setReading(wanted)
    }

    private func finishIfDone() {
        guard !closed, slots.isEmpty, unsentBytes == 0, heldInput.isEmpty else { return }
        if quitting || (peerFinishedSending && tail == nil && !isWatching) { close() }
    }

    /// Drops what is unsent and closes.
    func abort() {
        output.removeAll()
        outputSent = 0
        close()
    }

    private func close() {
        guard !closed else { return }
        closed = true
        pushGate.withLock { $0.close() }
        pushesMayBeOpen = false
        context.hub.unwatch(self, polls: nil)
        context.tails.remove(self)
        tail = nil
        if token != 0 { loop.remove(fd: socket.fd, token: token) }
        socket.close()
        readBuffer.deallocate()
        context.unregister(self)
    }

    private func setReading(_ on: Bool) {
        setInterest(on ? interest.union(.readable) : interest.subtracting(.readable))
    }

    private func setWriting(_ on: Bool) {
        setInterest(on ? interest.union(.writable) : interest.subtracting(.writable))
    }

    private func setInterest(_ wanted: Readiness) {
        guard !closed, wanted != interest else { return }
        interest = wanted
        if token != 0 { loop.update(fd: socket.fd, token: token, interest: wanted) }
    }

    /// Writes `line` straight to the socket if it takes it, bypassing what is queued, then closes.
    /// For a client that reads nothing, this is the only way a last word can still reach it.
    /// Any partly sent line is completed first, so the last word starts on a line of its own.
    func closeWithLastWord(_ line: String) {
        holdPushes()
        var bytes: [UInt8] = []
        if outputSent > 0, output[outputSent - 1] != UInt8(ascii: "\n"),
           let end = output[outputSent...].firstIndex(of: UInt8(ascii: "\n")) {
            bytes.append(contentsOf: output[outputSent...end])
        }
        bytes.append(contentsOf: (line + "\n").utf8)
        _ = bytes.withUnsafeBytes { try? socket.send($0) }
        abort()
    }

    /// Server shutdown: say so, write what is due, and close.
    func shutdown(farewell: String) {
        queue.async { [self] in
            guard !closed else { return }
            flush()
            appendLine(farewell)
            quitting = true
            slots = ReplySlots()
            tail = nil
            writeOutput()
            close()
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
