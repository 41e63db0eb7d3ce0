public import PollTallyCore

/// Reads the log's segments in order and hands each verified event to a visitor.
///
/// A segment's records may be followed by zeros to the end of its file: room the writer wrote
/// ahead of itself (`SegmentCursor.reservedLength`), where the records simply end.
///
/// Damage is classified the one way recovery, `replay`, `dump` and `verify` all rely on:
/// - a record that cannot be verified with **no valid record after it** in the last segment is a
///   *torn tail*, what a crash in the middle of a write leaves; it was never acknowledged
///   (under `--fsync always`), so it may be cut;
/// - anything else (a bad record with valid records after it, damage in an older segment, a gap
///   in the seqs) is *corruption*: it throws, naming the file and byte offset, and is never skipped.
public struct LogScanner: Sendable {
    /// Where a record sits.
    public struct Location: Sendable, Equatable {
        public var path: String
        public var offset: Int64
    }

    /// A damaged tail found at the end of the last segment.
    public struct TornTail: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        /// Where the last valid record ends: the length the file should be cut to.
        public var offset: Int64
        /// Bytes from `offset` to the end of the file.
        public var bytes: Int64
        public var reason: String

        public var description: String {
            "\(path): torn tail at byte offset \(offset): \(bytes) bytes (\(reason))"
        }
    }

    /// What a scan saw.
    public struct Summary: Sendable, Equatable {
        /// Events handed to the visitor.
        public var events = 0
        /// The seq of the last verified event (0 when the log is empty).
        public var lastSeq: UInt64 = 0
        /// Bytes of the segments read: headers and records (and damage), not the zeros after the records.
        public var bytesRead: Int64 = 0
        /// A torn tail, if the last segment ends in one.
        public var tornTail: TornTail?
        /// The last segment and the length of its valid part, if there is a segment.
        public var lastSegment: LogDirectory.Segment?
        public var lastSegmentValidLength: Int64 = 0
        /// Whole segments before `fromSeq`'s that were not read (so not verified either).
        public var segmentsSkipped = 0
        /// Zeros found after the records of the segments read: room the writer wrote ahead of
        /// itself, not damage (see `SegmentCursor.reservedLength`); not in `bytesRead`.
        public var reservedBytes: Int64 = 0
    }

    public let directory: LogDirectory
    /// Whether segments are mapped into memory (`MappedFile`) rather than read into a buffer:
    /// no copy and no fresh pages, which saved a start a tenth of its time. Only for a caller
    /// that holds the folder's lock (a starting server): a segment that shrank under the mapping
    /// (a live server cutting the zeros after its records) would fault on the next read.
    public let mapsFiles: Bool

    public init(directory: LogDirectory, mapsFiles: Bool = false) {
        self.directory = directory
        self.mapsFiles = mapsFiles
    }

    /// Reads every event with seq ≥ `fromSeq` and calls `visit` with each, in order. With
    /// `throughSeq`, reading stops after that event.
    ///
    /// Events before `fromSeq` in the segment that holds it are not visited and only partly
    /// verified: each record's frame (a possible length that fits the file), kind byte, and that
    /// its seq follows the one before; not their checksums, except the last one's. Whole
    /// segments before that one are not read at all, so nothing in them is verified, not even
    /// that their seqs lead up to it: `Summary.segmentsSkipped` says how many, and
    /// `verifySegment` checks them one at a time (the server's background pass, `verify`).
    public func scan(fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, visit: (Event, Location) throws(LogError) -> Void) throws(LogError) -> Summary {
        try withoutActuallyEscaping(visit) { (visit) throws(LogError) in
            try scan(fromSeq: fromSeq, throughSeq: throughSeq, consumer: .events(visit))
        }
    }

    /// Reads every record with seq ≥ `fromSeq` as `scan` does, but hands them over undecoded, a
    /// batch at a time (at most `batchSize` records, never spanning two segments): for replay and
    /// recovery, which apply payloads in place (`Projection.apply(record:)`) and can share a batch
    /// out over threads.
    ///
    /// Each record's checksum, its head (kind and seq) and the run of seqs are verified here; the
    /// rest of the payload is the visitor's to check, and a payload it cannot apply should be
    /// thrown as `LogError.invalidEvent` or `.corruptRecord` at the record's location. A batch
    /// is valid only during its visit.
    public func scanRecords(
        fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, batchSize: Int = 65_536,
        visit: (RecordBatch) throws(LogError) -> Void
    ) throws(LogError) -> Summary {
        try withoutActuallyEscaping(visit) { (visit) throws(LogError) in
            try scan(fromSeq: fromSeq, throughSeq: throughSeq, consumer: .batches(size: max(1, batchSize), visit))
        }
    }

    /// What a scan does with each record at or after `fromSeq` (its closures never outlive the scan).
    private enum Consumer {
        case events((Event, Location) throws(LogError) -> Void)
        case batches(size: Int, (RecordBatch) throws(LogError) -> Void)
    }

    private func scan(fromSeq: UInt64, throughSeq: UInt64, consumer: Consumer) throws(LogError) -> Summary {
        let segments = try directory.segments()
        var summary = Summary()
        let startIndex = Self.firstSegmentRead(segments, fromSeq: fromSeq)
        summary.segmentsSkipped = startIndex
        // From the middle of the log, the last seq before anything is read is the one before the first segment read.
        if startIndex > 0 { summary.lastSeq = segments[startIndex].firstSeq - 1 }
        var expected: UInt64? = startIndex == 0 ? 1 : nil
        // One buffer for every segment: a fresh 64 MiB a segment would cost more in page faults than the read.
        var buffer: [UInt8] = []
        for index in segments.indices where index >= startIndex {
            if summary.lastSeq >= throughSeq { break }
            let segment = segments[index]
            let isLast = index == segments.count - 1
            try scanSegment(segment, isLast: isLast, fromSeq: fromSeq, throughSeq: throughSeq, expected: &expected, summary: &summary,
                            buffer: &buffer, consumer: consumer)
        }
        return summary
    }

    /// The index of the first segment `scan(fromSeq:)` reads: the last one whose first seq is
    /// ≤ `fromSeq` (segments sorted by first seq); every segment before it is skipped unread.
    public static func firstSegmentRead(_ segments: [LogDirectory.Segment], fromSeq: UInt64) -> Int {
        segments.lastIndex { $0.firstSeq <= fromSeq } ?? 0
    }

    /// Verifies one whole segment on its own, as an older segment (any damage is corruption, never
    /// a torn tail): its header, every record's checksum and encoding, and seqs running without a
    /// gap from its first seq, which must be `expectedFirstSeq` when given. Returns the segment's
    /// last seq (its first seq − 1 when it holds no record). Reads only this one file. With
    /// `throughSeq`, stops after that event: the part of a segment a writer may still be appending to.
    public func verifySegment(_ segment: LogDirectory.Segment, expectedFirstSeq: UInt64?, throughSeq: UInt64 = .max) throws(LogError) -> UInt64 {
        var expected = expectedFirstSeq
        var summary = Summary()
        summary.lastSeq = max(segment.firstSeq, 1) - 1
        var buffer: [UInt8] = []
        try scanSegment(segment, isLast: false, fromSeq: 0, throughSeq: throughSeq, expected: &expected, summary: &summary,
                        buffer: &buffer, consumer: .events { _, _ in })
        return summary.lastSeq
    }

    private func scanSegment(
        _ segment: LogDirectory.Segment, isLast: Bool, fromSeq: UInt64, throughSeq: UInt64, expected: inout UInt64?,
        summary: inout Summary, buffer: inout [UInt8], consumer: Consumer
    ) throws(LogError) {
        var mapped: MappedFile?
        if mapsFiles {
            do throws(Errno) { mapped = try MappedFile.map(segment.path) } catch {
                throw .io(path: segment.path, operation: "read", error)
            }
        }
        defer { mapped?.unmap() }
        let count: Int
        if let mapped { count = mapped.bytes.count } else { count = try Self.readFile(segment.path, into: &buffer) }
        summary.bytesRead += Int64(count)
        summary.lastSegment = segment
        let batchSize: Int
        switch consumer {
        case .events: batchSize = 4096
        case .batches(let size, _): batchSize = size
        }
        let result: Result<Void, LogError> = Self.withBytes(mapped, else: buffer, count: count) { raw in
            var batch = RecordBatch(path: segment.path, bytes: raw)
            batch.records.reserveCapacity(min(batchSize, 65_536))
            /// Gives the consumer the records verified so far: decoded one by one, or as they are.
            func handOver(_ batch: RecordBatch) throws(LogError) {
                switch consumer {
                case .events(let visit):
                    for record in batch.records {
                        let event: Event
                        do throws(EventCodec.DecodeError) {
                            event = try EventCodec.decode(batch.payload(of: record))
                        } catch {
                            throw .corruptRecord(path: segment.path, offset: Int64(record.offset), reason: error.description)
                        }
                        try visit(event, Location(path: segment.path, offset: Int64(record.offset)))
                    }
                case .batches(_, let visit):
                    try visit(batch)
                }
            }
            do throws(LogError) {
                guard var offset = try startOfRecords(raw, segment: segment, isLast: isLast, expected: &expected, summary: &summary) else {
                    return .success(())
                }
                while try scanRecords(raw, from: &offset, segment: segment, isLast: isLast, fromSeq: fromSeq, throughSeq: throughSeq,
                                      expected: &expected, summary: &summary, into: &batch.records, limit: batchSize) {
                    // Emptied even when the consumer throws, so the damage path below never hands it over again.
                    defer { batch.records.removeAll(keepingCapacity: true) }
                    try handOver(batch)
                }
            } catch {
                // Records before the damage go first, so an invalid event earlier in the log is what is reported.
                if !batch.records.isEmpty {
                    do throws(LogError) { try handOver(batch) } catch { return .failure(error) }
                }
                return .failure(error)
            }
            if !batch.records.isEmpty {
                do throws(LogError) { try handOver(batch) } catch { return .failure(error) }
            }
            return .success(())
        }
        try result.get()
    }

    /// Calls `body` with the mapped file's bytes, or else the first `count` bytes of `buffer`.
    private static func withBytes<T>(_ mapped: MappedFile?, else buffer: [UInt8], count: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let mapped { return body(mapped.bytes) }
        return buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Checks the segment's header; returns where its records start, or nil when the header itself
    /// is torn (a crash between creating the last segment and syncing its header).
    private func startOfRecords(
        _ raw: UnsafeRawBufferPointer, segment: LogDirectory.Segment, isLast: Bool, expected: inout UInt64?, summary: inout Summary
    ) throws(LogError) -> Int? {
        if let want = expected, segment.firstSeq != want {
            throw .sequenceGap(path: segment.path, offset: 0, expected: want, found: segment.firstSeq)
        }
        let header: LogFileHeader
        do throws(LogFileHeader.DecodeError) {
            header = try LogFileHeader.decode(raw)
        } catch .truncated where isLast {
            // Nothing in a segment whose header never reached the disk was acknowledged.
            summary.tornTail = TornTail(path: segment.path, offset: 0, bytes: Int64(raw.count), reason: "incomplete segment header")
            summary.lastSegmentValidLength = 0
            return nil
        } catch {
            throw .badHeader(path: segment.path, offset: Int64(error.offset), reason: error.description)
        }
        guard header.firstSeq == segment.firstSeq else {
            throw .badHeader(path: segment.path, offset: Int64(LogFileHeader.firstSeqOffset), reason: "header says first seq \(header.firstSeq), file name says \(segment.firstSeq)")
        }
        expected = header.firstSeq
        return LogFileHeader.size
    }

    /// Verifies the records from `offset` on, appending each one at or after `fromSeq` to `records`.
    /// Returns true when `records` has reached `limit` (call again, from the updated `offset`, to
    /// go on); false when the segment is done: read to its end, cut at a torn tail (recorded in
    /// `summary`), or read through `throughSeq`.
    private func scanRecords(
        _ raw: UnsafeRawBufferPointer, from offset: inout Int, segment: LogDirectory.Segment, isLast: Bool, fromSeq: UInt64,
        throughSeq: UInt64, expected: inout UInt64?, summary: inout Summary, into records: inout [RecordBatch.Record], limit: Int
    ) throws(LogError) -> Bool {
        // Records before fromSeq are hopped over by their frames and heads, without their
        // checksums (a start from a snapshot would spend a fifth of its time on them); the
        // background verify checks them. Where the hops end, the last record hopped over is
        // checked in full: its length is what led here, so if it fails, the hops are not trusted
        // and the segment is read again from its start, every record checked.
        var hopping = true
        var lastHopped: Int?
        while offset < raw.count {
            if summary.lastSeq >= throughSeq { return false }
            if hopping, let want = expected, want < fromSeq, let (payload, next) = RecordFrame.skip(raw, at: offset),
               EventView.seq(of: UnsafeRawBufferPointer(rebasing: raw[payload])) == want {
                lastHopped = offset
                expected = want + 1
                summary.lastSeq = want
                offset = next
                continue
            }
            if let hopped = lastHopped {
                lastHopped = nil
                guard case .record = RecordFrame.scan(raw, at: hopped) else {
                    hopping = false
                    offset = LogFileHeader.size
                    expected = segment.firstSeq
                    summary.lastSeq = max(segment.firstSeq, 1) - 1
                    continue
                }
            }
            switch RecordFrame.scan(raw, at: offset) {
            case .record(let payload, let next):
                // Here only the checksum, the head (kind, seq) and the run of seqs are checked; the rest
                // of a payload at or after fromSeq is checked by whoever takes it. Before fromSeq nothing
                // more is: decoding every event of the segment a snapshot's seq falls in would be most
                // of a restart's time.
                let bytes = UnsafeRawBufferPointer(rebasing: raw[payload])
                guard let seq = EventView.seq(of: bytes) else {
                    var reason = "event payload has no valid head"
                    do throws(EventCodec.DecodeError) { _ = try EventView(bytes) } catch { reason = error.description }
                    throw .corruptRecord(path: segment.path, offset: Int64(offset), reason: reason)
                }
                let want = expected ?? seq
                guard seq == want else {
                    throw .sequenceGap(path: segment.path, offset: Int64(offset), expected: want, found: seq)
                }
                if seq >= fromSeq {
                    records.append(RecordBatch.Record(offset: offset, payload: payload, seq: seq))
                    summary.events += 1
                }
                expected = seq + 1
                summary.lastSeq = seq
                offset = next
                if records.count >= limit { return true }
            case .incomplete where Self.isZero(raw, from: offset), .corrupt where Self.isZero(raw, from: offset):
                // Zeros the writer wrote ahead of itself, to the end of the file: the records end here.
                summary.reservedBytes += Int64(raw.count - offset)
                summary.bytesRead -= Int64(raw.count - offset)
                summary.lastSegmentValidLength = Int64(offset)
                return false
            case .incomplete:
                // A damaged length can also claim more bytes than the file has: corruption if valid records follow.
                guard isLast, !Self.hasValidRecord(raw, after: offset, seqAbove: summary.lastSeq) else {
                    throw .corruptRecord(path: segment.path, offset: Int64(offset), reason: "record length runs past the end of the segment")
                }
                summary.tornTail = TornTail(path: segment.path, offset: Int64(offset), bytes: Int64(raw.count - offset), reason: "incomplete record")
                summary.lastSegmentValidLength = Int64(offset)
                return false
            case .corrupt(let reason):
                guard isLast, !Self.hasValidRecord(raw, after: offset, seqAbove: summary.lastSeq) else {
                    throw .corruptRecord(path: segment.path, offset: Int64(offset), reason: reason.description)
                }
                summary.tornTail = TornTail(path: segment.path, offset: Int64(offset), bytes: Int64(raw.count - offset), reason: reason.description)
                summary.lastSegmentValidLength = Int64(offset)
                return false
            }
        }
        summary.lastSegmentValidLength = Int64(raw.count)
        return false
    }

    /// Whether a verifiable record of a later event starts anywhere after `offset`: if so, the
    /// damage at `offset` is not a torn tail but corruption in the middle of the log.
    static func hasValidRecord(_ raw: UnsafeRawBufferPointer, after offset: Int, seqAbove lastSeq: UInt64) -> Bool {
        // A record's length has a nonzero byte among its first four, so none starts past the
        // file's last nonzero byte: the zeros written ahead (up to a MiB) are not searched byte by byte.
        var lastNonZero = raw.count - 1
        while lastNonZero > offset && raw[lastNonZero] == 0 { lastNonZero -= 1 }
        var candidate = offset + 1
        while candidate + RecordFrame.headerSize < raw.count && candidate <= lastNonZero {
            if case .record(let payload, _) = RecordFrame.scan(raw, at: candidate),
               let event = try? EventCodec.decode(UnsafeRawBufferPointer(rebasing: raw[payload])), event.seq > lastSeq {
                return true
            }
            candidate += 1
        }
        return false
    }

    /// Whether every byte of `raw` from `offset` on is zero.
    static func isZero(_ raw: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var index = offset
        while index + 8 <= raw.count {
            if raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
            index += 8
        }
        while index < raw.count {
            if raw[index] != 0 { return false }
            index += 1
        }
        return true
    }

    /// Reads the file at `path` into the front of `buffer`; returns its length.
    static func readFile(_ path: String, into buffer: inout [UInt8]) throws(LogError) -> Int {
        do throws(Errno) {
            let fd = try FileDescriptor.open(path, .readOnly)
            defer { fd.close() }
            return try fd.readToEnd(into: &buffer)
        } catch {
            throw .io(path: path, operation: "read", error)
        }
    }
}
