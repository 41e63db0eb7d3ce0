public import PollTallyCore

/// Reads the log forward from a seq, a bounded chunk at a time: what `TAIL` uses to catch up
/// from disk and to follow the head. It never holds more than one chunk of a segment in memory,
/// whatever the length of the log, and it never reads past the seq it is given as the limit, so
/// only durable events come out of it while the writer appends.
///
/// Not thread-safe: one user at a time (it is a class for its file descriptor).
public final class LogCursor: @unchecked Sendable {
    public let directory: LogDirectory
    /// The seq of the next event to return.
    public private(set) var nextSeq: UInt64

    private var segment: LogDirectory.Segment?
    private var fd: FileDescriptor?
    /// File offset of `buffer[0]`.
    private var bufferOffset: Int64 = 0
    private var buffer: [UInt8] = []
    private var consumed = 0
    private let chunk: Int

    public init(directory: LogDirectory, fromSeq: UInt64, chunkBytes: Int = 256 * 1024) {
        self.directory = directory
        self.nextSeq = max(1, fromSeq)
        self.chunk = chunkBytes
    }

    deinit { fd?.close() }

    /// Hands the next events with seq ≤ `limit`, about `maxBytes` of records at most, to `visit`
    /// in seq order, each as a view of its payload (valid during the call only) after checking it
    /// as `EventCodec.decode` does; returns how many. 0 means there is nothing more up to `limit`
    /// yet; events before `nextSeq` are skipped. What a `TAIL` reads: no `Event` and no `String`
    /// is made for an event.
    @discardableResult
    public func read(through limit: UInt64, maxBytes: Int = 64 * 1024,
                     visit: (EventView, UnsafeRawBufferPointer) -> Void) throws(LogError) -> Int {
        var visited = 0
        do throws(LogError) {
            try read(through: limit, maxBytes: maxBytes, visited: &visited, visit: visit)
        } catch {
            // Hand over what was read before the damage; the next call meets it again and throws.
            if visited == 0 { throw error }
        }
        return visited
    }

    private func read(through limit: UInt64, maxBytes: Int, visited: inout Int,
                      visit: (EventView, UnsafeRawBufferPointer) -> Void) throws(LogError) {
        var taken = 0
        // Whether the bytes at `consumed` were read again from the file after they did not verify.
        var reread = false
        while nextSeq <= limit && taken < maxBytes {
            if segment == nil { try openSegment() }
            guard let segment else { return }
            let scan: RecordFrame.Scan = buffer.withUnsafeBytes { RecordFrame.scan($0, at: consumed) }
            if case .record = scan { reread = false }
            switch scan {
            case .record(let payload, let next):
                let checked: Result<EventView, EventCodec.DecodeError> = buffer.withUnsafeBytes { raw in
                    Self.check(UnsafeRawBufferPointer(rebasing: raw[payload]))
                }
                let view: EventView
                switch checked {
                case .success(let read): view = read
                case .failure(let error):
                    throw .corruptRecord(path: segment.path, offset: bufferOffset + Int64(consumed), reason: error.description)
                }
                guard view.seq <= limit else { return }
                let size = next - consumed
                consumed = next
                // Skipping to the first wanted event costs reading, not returning: it is not counted.
                guard view.seq >= nextSeq else { continue }
                taken += size
                guard view.seq == nextSeq else {
                    throw .sequenceGap(path: segment.path, offset: bufferOffset + Int64(consumed), expected: nextSeq, found: view.seq)
                }
                buffer.withUnsafeBytes { raw in visit(view, UnsafeRawBufferPointer(rebasing: raw[payload])) }
                visited += 1
                nextSeq += 1
            case .incomplete:
                if try !fill() {
                    // End of this segment: the event we want is in the next one, if it exists yet.
                    try advanceSegment()
                    if self.segment?.path == segment.path { return }
                }
            case .corrupt where !reread:
                // Zeros the writer wrote ahead of itself, read before it wrote this record over
                // them: read again, a little (at the head of the log, that is all there is).
                buffer.removeLast(buffer.count - consumed)
                _ = try fill(min(chunk, 16 * 1024))
                reread = true
            case .corrupt(.badLength(0)) where buffer[consumed...].allSatisfy({ $0 == 0 }):
                // Nothing but zeros from here: this segment's records end here.
                try advanceSegment()
                if self.segment?.path == segment.path { return }
            case .corrupt(let reason):
                throw .corruptRecord(path: segment.path, offset: bufferOffset + Int64(consumed), reason: reason.description)
            }
        }
        return
    }

    /// Reads `payload` as `EventCodec.decode` would check it: in place, except a poll's creation,
    /// whose options and question only `decode` checks (rare).
    private static func check(_ payload: UnsafeRawBufferPointer) -> Result<EventView, EventCodec.DecodeError> {
        do throws(EventCodec.DecodeError) {
            let view = try EventView(payload)
            if view.kind == .pollCreated { _ = try EventCodec.decode(payload) }
            return .success(view)
        } catch {
            return .failure(error)
        }
    }

    /// Reads `size` more bytes of the current segment (a chunk by default); false at its end.
    private func fill(_ size: Int? = nil) throws(LogError) -> Bool {
        let size = size ?? chunk
        guard let fd, let segment else { return false }
        if consumed > 0 {
            buffer.removeFirst(consumed)
            bufferOffset += Int64(consumed)
            consumed = 0
        }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: size))
        let n: Int
        do throws(Errno) {
            n = try fd.read(into: &buffer, from: start, at: bufferOffset + Int64(start))
        } catch {
            buffer.removeLast(size)
            throw .io(path: segment.path, operation: "read", error)
        }
        buffer.removeLast(size - n)
        return n > 0
    }

    private func openSegment() throws(LogError) {
        let segments = try directory.segments()
        guard let found = segments.last(where: { $0.firstSeq <= nextSeq }) ?? segments.first else { return }
        try open(found)
    }

    /// Moves to the segment that starts at `nextSeq`, if it exists; otherwise stays.
    private func advanceSegment() throws(LogError) {
        let segments = try directory.segments()
        guard let next = segments.first(where: { $0.firstSeq == nextSeq }), next.path != segment?.path else { return }
        try open(next)
    }

    private func open(_ found: LogDirectory.Segment) throws(LogError) {
        fd?.close()
        fd = nil
        do throws(Errno) {
            fd = try FileDescriptor.open(found.path, .readOnly)
        } catch {
            throw .io(path: found.path, operation: "open", error)
        }
        segment = found
        buffer.removeAll(keepingCapacity: true)
        bufferOffset = Int64(LogFileHeader.size)
        consumed = 0
    }
}
