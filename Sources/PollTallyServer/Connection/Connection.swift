import Dispatch
import PollTallyCore
import PollTallyLog
import Synchronization

/// One client: reads request lines, routes them, and writes one reply per request in order, plus
/// pushed `UPDATE` and `EVENT` lines when watching or tailing.
///
/// Confined to `queue` (hence `@unchecked Sendable`): every method runs there except `start`,
/// `deliver`, `push`, `logMoved` and `sweep`, which only hop onto it. The flow per readable event:
/// read → frame lines → parse → requests grouped by shard, one `enqueue` per shard for the whole
/// batch → replies come back through `deliver` once durable → written in request order.
final class Connection: ReplySink, WatchSubscriber, TailSubscriber, @unchecked Sendable {
    let id: Int
    let queue: DispatchQueue
    let context: ServerContext
    private let socket: Socket
    private let readSource: any DispatchSourceRead
    private let writeSource: any DispatchSourceWrite
    private var readSuspended = true
    private var writeSuspended = true
    private var cancelledSources = 0

    private var framer: LineFramer
    var slots = ReplySlots()
    /// Bytes queued for the socket; `output[outputSent...]` is not yet sent.
    private(set) var output: [UInt8] = []
    private(set) var outputSent = 0
    /// Newest update line per watched poll not yet written (while replies or backpressure hold them).
    var pendingUpdates: [String: String] = [:]
    var watching: Set<String> = []
    var watchingEveryPoll = false
    /// The `TAIL` this connection follows, if any.
    var tail: TailStream?
    /// Set while a `logMoved` wake-up is queued, so a busy log does not flood the queue.
    let tailWakeQueued = Atomic<Bool>(false)
    private(set) var peerFinishedSending = false
    var quitting = false
    private(set) var closed = false
    /// When the client last sent bytes, and when the socket last accepted some (monotonic ns).
    private(set) var lastRead = Connection.now()
    private(set) var lastSendProgress = Connection.now()
    private let readBuffer: UnsafeMutableRawBufferPointer
    /// Commands and single-poll reads of the current read event, per shard index.
    private var scratchBatches: [[(slot: Int, request: Request)]] = []

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
                lastRead = Connection.now()
                framer.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])) { handle($0, into: &scratchBatches) }
                submitBatches()
                flush()
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

    // MARK: - Replies and pushed lines

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
            for update in updates where watchingEveryPoll || watching.contains(update.poll) {
                pendingUpdates[update.poll] = update.line
            }
            flush()
        }
    }

    /// Moves every reply that is due into the output, then pushed lines, then writes.
    func flush() {
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
        if tail != nil { pumpTail() }
    }

    // MARK: - Writing

    var unsentBytes: Int { output.count - outputSent }

    func appendBytes(_ bytes: [UInt8]) {
        output.append(contentsOf: bytes)
    }

    func appendLine(_ text: String) {
        output.append(contentsOf: text.utf8)
        output.append(UInt8(ascii: "\n"))
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
                    output.removeFirst(outputSent)
                    outputSent = 0
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
        let wanted = !peerFinishedSending && !quitting && !closed
            && unsentBytes < context.config.maxOutput && slots.count < context.config.maxPendingReplies
        setReading(wanted)
    }

    private func finishIfDone() {
        guard !closed, slots.isEmpty, unsentBytes == 0 else { return }
        if quitting || (peerFinishedSending && watching.isEmpty && !watchingEveryPoll && tail == nil) { close() }
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
        context.hub.unwatch(self, polls: nil)
        context.tails.remove(self)
        tail = nil
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

    /// Writes `line` straight to the socket if it takes it, bypassing what is queued, then closes.
    /// For a client that reads nothing, this is the only way a last word can still reach it.
    /// Any partly sent line is completed first, so the last word starts on a line of its own.
    func closeWithLastWord(_ line: String) {
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
