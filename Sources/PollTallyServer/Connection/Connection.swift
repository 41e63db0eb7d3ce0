import Dispatch
import PollTallyCore
import PollTallyLog

/// One client: reads request lines, routes them, and writes one reply per request in order, plus
/// pushed `UPDATE` lines when watching.
///
/// Confined to `queue` (hence `@unchecked Sendable`): every method but `deliver`, `push` and
/// `start` runs there, and those three only hop onto it. The flow per readable event:
/// read → frame lines → parse → commands grouped by shard, one `enqueue` per shard for the whole
/// batch → replies come back through `deliver` once durable → written in request order.
final class Connection: ReplySink, WatchSubscriber, @unchecked Sendable {
    let id: Int
    let queue: DispatchQueue
    private let socket: Socket
    private let context: ServerContext
    private let readSource: any DispatchSourceRead
    private let writeSource: any DispatchSourceWrite
    private var readSuspended = true
    private var writeSuspended = true
    private var cancelledSources = 0

    private var framer: LineFramer
    private var slots = ReplySlots()
    private var output: [UInt8] = []
    private var outputSent = 0
    /// Newest update line per watched poll not yet written (while replies or backpressure hold them).
    private var pendingUpdates: [String: String] = [:]
    private var watching: Set<String> = []
    private var peerFinishedSending = false
    private var quitting = false
    private var closed = false
    private let readBuffer: UnsafeMutableRawBufferPointer

    static let readChunk = 64 * 1024

    init(socket: Socket, context: ServerContext, target: DispatchQueue) {
        self.id = context.makeConnectionID()
        self.socket = socket
        self.context = context
        self.queue = DispatchQueue(label: "polltally.conn.\(id)", target: target)
        self.framer = LineFramer(maxLine: context.config.maxLine)
        self.readSource = DispatchSource.makeReadSource(fileDescriptor: socket.fd, queue: queue)
        self.writeSource = DispatchSource.makeWriteSource(fileDescriptor: socket.fd, queue: queue)
        self.readBuffer = .allocate(byteCount: Self.readChunk, alignment: 16)
    }

    /// Wires the sources and starts reading.
    func start() {
        context.register(self)
        queue.async { [self] in
            readSource.setEventHandler { [self] in onReadable() }
            writeSource.setEventHandler { [self] in onWritable() }
            readSource.setCancelHandler { [self] in sourceCancelled() }
            writeSource.setCancelHandler { [self] in sourceCancelled() }
            setReading(true)
        }
    }

    // MARK: - Reading

    private func onReadable() {
        guard !closed else { return }
        do throws(Errno) {
            switch try socket.read(into: readBuffer) {
            case .bytes(let n):
                process(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            case .wouldBlock:
                return
            case .endOfFile:
                peerFinishedSending = true
                setReading(false)
                framer.finish { handle($0, into: &scratchBatches) }
                submitBatches()
                flush()
            }
        } catch {
            abort()
        }
    }

    /// Commands read in this event, per shard index.
    private var scratchBatches: [[(slot: Int, request: Request)]] = []

    private func process(_ bytes: UnsafeRawBufferPointer) {
        framer.feed(bytes) { handle($0, into: &scratchBatches) }
        submitBatches()
        flush()
    }

    private func handle(_ item: LineFramer.Framed, into batches: inout [[(slot: Int, request: Request)]]) {
        guard !quitting else { return }
        let line: UnsafeRawBufferPointer
        switch item {
        case .tooLong:
            context.stats.errors.add(1, ordering: .relaxed)
            _ = slots.append(.ready(ProtocolError(.lineTooLong, "request line longer than \(context.config.maxLine) bytes; discarded").line))
            return
        case .line(let bytes):
            line = bytes
        }
        guard let parsed = context.parser.parse(line) else { return }
        context.stats.requests.add(1, ordering: .relaxed)
        switch parsed {
        case .failure(let error):
            context.stats.errors.add(1, ordering: .relaxed)
            _ = slots.append(.ready(error.line))
        case .success(.ping):
            _ = slots.append(.ready("PONG"))
        case .success(.help):
            _ = slots.append(.ready(ReplyFormat.helpBlock().joined(separator: "\n")))
        case .success(let request) where request.shardPoll != nil:
            let slot = slots.append(.pending)
            let index = ShardRouter.shardIndex(of: request.shardPoll ?? "", count: context.router.shards.count)
            if batches.isEmpty { batches = Array(repeating: [], count: context.router.shards.count) }
            batches[index].append((slot, request))
        case .success(let request):
            if request == .quit { quitting = true }
            _ = slots.append(.atHead(request))
        }
    }

    /// One hop per shard for everything this read produced.
    private func submitBatches() {
        guard !scratchBatches.isEmpty else { return }
        for (index, requests) in scratchBatches.enumerated() where !requests.isEmpty {
            let batch = PollShard.Batch(sink: self, requests: requests)
            context.router.shards[index].enqueue { $0.submit(batch) }
        }
        scratchBatches.removeAll(keepingCapacity: true)
    }

    // MARK: - Replies and updates

    func deliver(_ replies: [(slot: Int, text: String)]) {
        queue.async { [self] in
            guard !closed else { return }
            for reply in replies { slots.fill(reply.slot, with: reply.text) }
            flush()
        }
    }

    func push(_ updates: [(poll: String, line: String)]) {
        queue.async { [self] in
            guard !closed else { return }
            for update in updates where watching.contains(update.poll) {
                pendingUpdates[update.poll] = update.line
            }
            flush()
        }
    }

    /// Moves every reply that is due into the output, then writes.
    private func flush() {
        while let slot = slots.popHead() {
            switch slot {
            case .ready(let text): appendLine(text)
            case .atHead(let request): appendLine(answer(request))
            case .pending: break
            }
        }
        if slots.isEmpty && !pendingUpdates.isEmpty && unsentBytes < context.config.maxOutput {
            for line in pendingUpdates.values { appendLine(line) }
            pendingUpdates.removeAll(keepingCapacity: true)
        }
        writeOutput()
    }

    /// Answers a request that waited for every earlier reply to leave.
    private func answer(_ request: Request) -> String {
        let board = context.board
        switch request {
        case .polls:
            return (board.all().map(ReplyFormat.pollLine) + ["END"]).joined(separator: "\n")
        case .watch(let polls):
            var unique: [String] = []
            for poll in polls where !unique.contains(poll) {
                guard board.tally(poll) != nil else { return noSuchPoll(poll) }
                unique.append(poll)
            }
            // Subscribe before reading, so a change landing in between is pushed rather than missed.
            context.hub.watch(self, polls: unique)
            watching.formUnion(unique)
            for poll in unique { pendingUpdates[poll] = nil }
            let updates = unique.compactMap { board.tally($0).map(ReplyFormat.updateLine) }
            return (["OK watching \(unique.count)"] + updates).joined(separator: "\n")
        case .unwatch(let polls):
            let stopped = polls.isEmpty ? Array(watching) : polls
            context.hub.unwatch(self, polls: stopped)
            watching.subtract(stopped)
            for poll in stopped { pendingUpdates[poll] = nil }
            return "OK"
        case .stats:
            return context.statsBlock().joined(separator: "\n")
        case .quit:
            return "BYE"
        case .ping, .help, .command, .tally, .results:
            return ProtocolError(.badRequest, "unexpected request").line
        }
    }

    private func noSuchPoll(_ poll: String) -> String {
        context.stats.errors.add(1, ordering: .relaxed)
        return TallyRule.noSuchPoll(poll).protocolError.line
    }

    // MARK: - Writing

    private var unsentBytes: Int { output.count - outputSent }

    private func appendLine(_ text: String) {
        output.append(contentsOf: text.utf8)
        output.append(UInt8(ascii: "\n"))
    }

    private func onWritable() {
        guard !closed else { return }
        flush()
    }

    private func writeOutput() {
        guard !closed else { return }
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
            case .success(.wouldBlock), .success(.endOfFile):
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
        let wanted = !peerFinishedSending && !quitting && !closed
            && unsentBytes < context.config.maxOutput && slots.count < context.config.maxPendingReplies
        setReading(wanted)
    }

    private func finishIfDone() {
        guard !closed, slots.isEmpty, unsentBytes == 0 else { return }
        if quitting || (peerFinishedSending && watching.isEmpty) { close() }
    }

    private func abort() {
        output.removeAll()
        outputSent = 0
        close()
    }

    private func close() {
        guard !closed else { return }
        closed = true
        context.hub.unwatch(self, polls: nil)
        watching.removeAll()
        pendingUpdates.removeAll()
        readSource.cancel()
        writeSource.cancel()
        // A suspended source runs its cancel handler only once resumed.
        if readSuspended { readSuspended = false; readSource.resume() }
        if writeSuspended { writeSuspended = false; writeSource.resume() }
    }

    /// The fd is closed only after both sources are cancelled, as libdispatch requires.
    private func sourceCancelled() {
        cancelledSources += 1
        guard cancelledSources == 2 else { return }
        socket.close()
        readBuffer.deallocate()
        context.unregister(self)
    }

    private func setReading(_ on: Bool) {
        guard !closed, on == readSuspended else { return }
        readSuspended = !on
        if on { readSource.resume() } else { readSource.suspend() }
    }

    private func setWriting(_ on: Bool) {
        guard !closed, on == writeSuspended else { return }
        writeSuspended = !on
        if on { writeSource.resume() } else { writeSource.suspend() }
    }

    /// Server shutdown: say so, write what is due, and close.
    func shutdown(farewell: String) {
        queue.async { [self] in
            guard !closed else { return }
            flush()
            appendLine(farewell)
            quitting = true
            slots = ReplySlots()
            writeOutput()
            close()
        }
    }
}
