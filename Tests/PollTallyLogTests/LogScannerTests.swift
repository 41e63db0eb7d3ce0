import Testing
@testable import PollTallyLog
import PollTallyCore

@Suite("LogScanner")
struct LogScannerTests {
    /// A hand-made log: segments starting at `firsts`, holding events 1…`last`.
    static func makeLog(_ path: String, firsts: [UInt64], last: UInt64) throws -> [(path: String, offsets: [Int64])] {
        var result: [(String, [Int64])] = []
        for (index, first) in firsts.enumerated() {
            let end = index + 1 < firsts.count ? firsts[index + 1] - 1 : last
            let (bytes, offsets) = makeSegment(firstSeq: first, events: first <= end ? makeEvents(first...end) : [])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: first)
            try writeFileBytes(segmentPath, bytes)
            result.append((segmentPath, offsets))
        }
        return result
    }

    @Test("visits every event in order with its file and byte offset")
    func visitsWithLocations() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            let (events, locations, summary) = try scanAll(path)
            #expect(events == makeEvents(1...25))
            #expect(locations.map(\.path) == layout.flatMap { segment in segment.offsets.map { _ in segment.path } })
            #expect(locations.map(\.offset) == layout.flatMap(\.offsets))
            #expect(summary.events == 25)
            #expect(summary.lastSeq == 25)
            #expect(summary.tornTail == nil)
            #expect(summary.lastSegment?.firstSeq == 21)
            let lastSize = try fileSize(layout[2].path)
            #expect(summary.lastSegmentValidLength == lastSize)
            #expect(summary.bytesRead == (try layout.map { try fileSize($0.path) }.reduce(0, +)))
        }
    }

    @Test("an empty or absent folder scans to nothing")
    func emptyFolder() throws {
        try withTempFolder { path in
            let summary = try scanAll(path).summary
            #expect(summary == LogScanner.Summary())
            #expect(try scanAll(path + "/absent").summary == LogScanner.Summary())
        }
    }

    @Test("scan(fromSeq:) visits only events ≥ fromSeq", arguments: [UInt64(1), 2, 10, 11, 12, 20, 21, 25, 26, 100])
    func fromSeq(_ from: UInt64) throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            let (events, _, summary) = try scanAll(path, fromSeq: from)
            let expected: [UInt64] = from <= 25 ? Array(from...25) : []
            #expect(events.map(\.seq) == expected)
            #expect(summary.events == expected.count)
            #expect(summary.lastSeq == 25)
        }
    }

    @Test("scan(throughSeq:) stops after that event", arguments: [UInt64(1), 5, 10, 11, 20, 24, 25, 1000])
    func throughSeq(_ through: UInt64) throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            let (events, _, summary) = try scanAll(path, throughSeq: through)
            let last = min(through, 25)
            #expect(events.map(\.seq) == Array(1...last))
            #expect(summary.lastSeq == last)
        }
    }

    @Test("fromSeq and throughSeq together")
    func window() throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            #expect(try scanAll(path, fromSeq: 8, throughSeq: 22).events.map(\.seq) == Array(8...22))
            #expect(try scanAll(path, fromSeq: 11, throughSeq: 11).events.map(\.seq) == [11])
            #expect(try scanAll(path, fromSeq: 15, throughSeq: 12).events.isEmpty)
        }
    }

    @Test("fromSeq on a log written by the writer with rolled segments")
    func fromSeqWrittenLog() throws {
        try withTempFolder { path in
            let options = EventLog.Options(fsync: .never, segmentSize: 2048)
            try writeLog(path, batches: (0..<20).map { r in sampleBodies(r * 25..<(r + 1) * 25) }, options: options)
            let segments = try LogDirectory(path: path).segments()
            #expect(segments.count > 2)
            for from in [1, 2, segments[1].firstSeq, segments[1].firstSeq + 1, segments.last!.firstSeq, 499, 500, 501] {
                let events = try scanAll(path, fromSeq: from).events
                #expect(events.map(\.seq) == (from <= 500 ? Array(from...500) : []), "fromSeq \(from)")
                #expect(events.allSatisfy { $0.seq >= from })
            }
            let through = try scanAll(path, throughSeq: segments[1].firstSeq + 3).events
            #expect(through.last?.seq == segments[1].firstSeq + 3)
            #expect(through.count == Int(segments[1].firstSeq + 3))
        }
    }

    @Test("flipping any byte of a middle record throws corruptRecord at that record's offset")
    func everyByteOfMiddleRecord() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1], last: 9)
            let segmentPath = layout[0].path
            let original = try readFileBytes(segmentPath)
            let start = Int(layout[0].offsets[4]), end = Int(layout[0].offsets[5])
            for position in start..<end {
                var damaged = original
                damaged[position] ^= 0x40
                try writeFileBytes(segmentPath, damaged)
                let error = scanError(path)
                let info = corruptRecordInfo(error)
                #expect(info?.path == segmentPath, "byte \(position): \(String(describing: error))")
                #expect(info?.offset == Int64(start), "byte \(position): \(String(describing: error))")
            }
        }
    }

    @Test("a damaged payload in any record but the last throws at that record's offset; the last is a torn tail")
    func payloadFlipEachRecord() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1], last: 12)
            let segmentPath = layout[0].path
            let original = try readFileBytes(segmentPath)
            let offsets = layout[0].offsets
            for (index, offset) in offsets.enumerated() {
                var damaged = original
                damaged[Int(offset) + RecordFrame.headerSize + 3] ^= 0x01
                try writeFileBytes(segmentPath, damaged)
                if index < offsets.count - 1 {
                    #expect(corruptRecordInfo(scanError(path))?.offset == offset, "record \(index)")
                } else {
                    let summary = try scanAll(path).summary
                    #expect(summary.events == 11)
                    #expect(summary.tornTail?.offset == offset)
                    #expect(summary.tornTail?.reason == RecordFrame.Reason.badChecksum.description)
                    #expect(summary.lastSegmentValidLength == offset)
                }
            }
        }
    }

    @Test("damage in an older segment throws, even in its last record or as a short file")
    func damageInOlderSegment() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 6, 11], last: 15)
            let older = layout[1]
            let original = try readFileBytes(older.path)

            // The last record of a non-last segment: a flipped payload byte.
            var damaged = original
            damaged[Int(older.offsets.last!) + RecordFrame.headerSize + 1] ^= 0xFF
            try writeFileBytes(older.path, damaged)
            var info = corruptRecordInfo(scanError(path))
            #expect(info?.path == older.path)
            #expect(info?.offset == older.offsets.last!)

            // A non-last segment cut in the middle of its last record: not a torn tail.
            try writeFileBytes(older.path, Array(original.dropLast(3)))
            info = corruptRecordInfo(scanError(path))
            #expect(info?.path == older.path)
            #expect(info?.offset == older.offsets.last!)

            // Junk after the last record of a non-last segment.
            try writeFileBytes(older.path, original + [0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
            info = corruptRecordInfo(scanError(path))
            #expect(info?.offset == Int64(original.count))

            // Zeros after it are not junk but room the writer wrote ahead (a crash before it cut them at the roll).
            try writeFileBytes(older.path, original + [UInt8](repeating: 0, count: 4000))
            let summary = try scanAll(path).summary
            #expect(summary.lastSeq == 15 && summary.tornTail == nil && summary.reservedBytes == 4000)

            // The same damage is reported by open.
            try writeFileBytes(older.path, damaged)
            #expect(corruptRecordInfo(openError(path))?.offset == older.offsets.last!)
        }
    }

    @Test("a missing middle segment is a sequence gap")
    func missingSegment() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 6, 11], last: 15)
            try FileSystem.remove(layout[1].path)
            #expect(scanError(path) == .sequenceGap(path: layout[2].path, offset: 0, expected: 6, found: 11))
        }
    }

    @Test("a skipped or repeated seq inside a segment is a sequence gap at that record")
    func seqGapInSegment() throws {
        try withTempFolder { path in
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var events = makeEvents(1...6)
            events[3].seq = 5
            var (bytes, offsets) = makeSegment(firstSeq: 1, events: events)
            try writeFileBytes(segmentPath, bytes)
            #expect(scanError(path) == .sequenceGap(path: segmentPath, offset: offsets[3], expected: 4, found: 5))

            events = makeEvents(1...6)
            events[3].seq = 3
            (bytes, offsets) = makeSegment(firstSeq: 1, events: events)
            try writeFileBytes(segmentPath, bytes)
            #expect(scanError(path) == .sequenceGap(path: segmentPath, offset: offsets[3], expected: 4, found: 3))
            #expect(openError(path) == .sequenceGap(path: segmentPath, offset: offsets[3], expected: 4, found: 3))
        }
    }

    @Test("a log whose first segment does not start at seq 1 is a sequence gap")
    func firstSegmentNotOne() throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [5], last: 8)
            #expect(scanError(path) == .sequenceGap(path: path + "/" + LogDirectory.segmentName(firstSeq: 5), offset: 0, expected: 1, found: 5))
        }
    }

    @Test("a record that passes its CRC but is not an event is corruption at its offset")
    func undecodablePayload() throws {
        try withTempFolder { path in
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var (bytes, offsets) = makeSegment(firstSeq: 1, events: makeEvents(1...2))
            let badOffset = Int64(bytes.count)
            // kind 9 (unknown) | seq 3 | time 0: the right size for a header, but no such event.
            RecordFrame.append(to: &bytes) { $0 += [9, 3, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8) }
            offsets.append(badOffset)
            try writeFileBytes(segmentPath, bytes)
            #expect(scanError(path) == .corruptRecord(path: segmentPath, offset: badOffset, reason: EventCodec.DecodeError.unknownKind(9).description))
        }
    }

    @Test("header problems: bad magic, wrong version, name mismatch, short older segment → badHeader")
    func headerProblems() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 6], last: 9)
            let original = try readFileBytes(layout[1].path)

            var bad = original
            bad[0] = UInt8(ascii: "X")
            try writeFileBytes(layout[1].path, bad)
            #expect(scanError(path) == .badHeader(path: layout[1].path, offset: 0, reason: LogFileHeader.DecodeError.badMagic.description))
            #expect(openError(path) == .badHeader(path: layout[1].path, offset: 0, reason: LogFileHeader.DecodeError.badMagic.description))

            bad = original
            bad[8] = 2
            try writeFileBytes(layout[1].path, bad)
            #expect(scanError(path) == .badHeader(path: layout[1].path, offset: 8, reason: LogFileHeader.DecodeError.unsupportedVersion(2).description))

            bad = original
            bad[14] = 1
            try writeFileBytes(layout[1].path, bad)
            #expect(scanError(path) == .badHeader(path: layout[1].path, offset: 12, reason: LogFileHeader.DecodeError.reservedNotZero(0x1_0000).description))

            bad = original
            bad[16] = 7  // header first seq 7, name says 6
            try writeFileBytes(layout[1].path, bad)
            if case .badHeader(let badPath, let offset, _) = scanError(path) {
                #expect(badPath == layout[1].path)
                #expect(offset == 16)
            } else {
                Issue.record("expected badHeader")
            }

            try writeFileBytes(layout[1].path, original)
            let first = try readFileBytes(layout[0].path)
            try writeFileBytes(layout[0].path, Array(first.prefix(10)))
            #expect(scanError(path) == .badHeader(path: layout[0].path, offset: 0, reason: LogFileHeader.DecodeError.truncated.description))
        }
    }

    @Test("every bit of a segment's header, flipped, is refused, naming the field's offset")
    func everyHeaderBit() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 6], last: 9)
            let original = try readFileBytes(layout[0].path)
            let fieldStarts = [0, 8, 12, 16]
            for byte in 0..<LogFileHeader.size {
                for bit in 0..<8 {
                    var bad = original
                    bad[byte] ^= UInt8(1) << UInt8(bit)
                    try writeFileBytes(layout[0].path, bad)
                    guard case .badHeader(let badPath, let offset, _) = scanError(path) else {
                        Issue.record("byte \(byte) bit \(bit): not refused as a bad header: \(String(describing: scanError(path)))")
                        continue
                    }
                    #expect(badPath == layout[0].path)
                    #expect(offset == Int64(fieldStarts.last { $0 <= byte } ?? 0), "byte \(byte) bit \(bit)")
                }
            }
            try writeFileBytes(layout[0].path, original)
            #expect(scanError(path) == nil)
        }
    }

    @Test("a last segment shorter than its header is a torn tail at offset 0")
    func shortLastHeader() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 6], last: 9)
            for length in [0, 1, 10, 23] {
                let full = LogFileHeader(firstSeq: 6).encoded
                try writeFileBytes(layout[1].path, Array(full.prefix(length)))
                let summary = try scanAll(path).summary
                #expect(summary.events == 5)
                #expect(summary.lastSeq == 5)
                #expect(summary.tornTail == LogScanner.TornTail(path: layout[1].path, offset: 0, bytes: Int64(length), reason: "incomplete segment header"))
                #expect(summary.lastSegment?.firstSeq == 6)
                #expect(summary.lastSegmentValidLength == 0)
            }
        }
    }

    @Test("a visitor's error stops the scan and is rethrown")
    func visitorThrows() throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1], last: 5)
            var visited: [UInt64] = []
            let failure = LogError.invalidEvent(path: "x", offset: 1, seq: 3, reason: "test")
            do throws(LogError) {
                _ = try LogScanner(directory: LogDirectory(path: path)).scan { event, _ throws(LogError) in
                    visited.append(event.seq)
                    if event.seq == 3 { throw failure }
                }
                Issue.record("expected the visitor's error")
            } catch {
                #expect(error == failure)
            }
            #expect(visited == [1, 2, 3])
        }
    }
}

// MARK: - scanRecords

extension LogScannerTests {
    /// One record of a batch, copied out (a batch is valid only during its visit).
    struct Taken: Equatable {
        var path: String
        var offset: Int64
        var seq: UInt64
        var payload: [UInt8]
    }

    /// Every batch `scanRecords` hands over, copied.
    static func scanBatches(_ path: String, fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, batchSize: Int) throws(LogError)
        -> (batches: [[Taken]], summary: LogScanner.Summary) {
        var batches: [[Taken]] = []
        let summary = try LogScanner(directory: LogDirectory(path: path)).scanRecords(fromSeq: fromSeq, throughSeq: throughSeq, batchSize: batchSize) { batch in
            batches.append(batch.records.map { record in
                Taken(path: batch.path, offset: Int64(record.offset), seq: record.seq, payload: Array(batch.payload(of: record)))
            })
        }
        return (batches, summary)
    }

    static func payload(_ event: Event) -> [UInt8] {
        var bytes: [UInt8] = []
        EventCodec.encode(event, into: &bytes)
        return bytes
    }

    /// Checks `batches` against what `scan` saw of the same log: the same records in the same order
    /// and places, payloads that decode to its events; each batch within one segment, at most
    /// `batchSize` long, and short only at the end of a segment.
    static func check(_ batches: [[Taken]], against scanned: (events: [Event], locations: [LogScanner.Location], summary: LogScanner.Summary),
                      batchSize: Int, _ comment: Comment) {
        let records = batches.flatMap { $0 }
        #expect(records.map(\.seq) == scanned.events.map(\.seq), comment)
        #expect(records.map(\.path) == scanned.locations.map(\.path), comment)
        #expect(records.map(\.offset) == scanned.locations.map(\.offset), comment)
        #expect(records.map(\.payload) == scanned.events.map(payload), comment)
        #expect(records.map { try? EventCodec.decode($0.payload[...]) } == scanned.events, comment)
        let size = max(1, batchSize)
        for (index, batch) in batches.enumerated() {
            #expect(!batch.isEmpty && batch.count <= size, comment)
            #expect(Set(batch.map(\.path)).count == 1, "a batch spans segments: \(comment)")
            // A batch shorter than the size ends its segment: the next batch is of another segment.
            if batch.count < size, index + 1 < batches.count {
                #expect(batches[index + 1].first?.path != batch.first?.path, "a short batch mid-segment: \(comment)")
            }
        }
    }

    @Test("scanRecords hands over scan's records in order, in batches of at most batchSize that never span segments",
          arguments: [0, 1, 2, 3, 4, 9, 10, 11, 64, 65_536])
    func scanRecordsBatches(_ batchSize: Int) throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            let scanned = try scanAll(path)
            let (batches, summary) = try Self.scanBatches(path, batchSize: batchSize)
            Self.check(batches, against: scanned, batchSize: batchSize, "hand-made log, batch size \(batchSize)")
            #expect(summary == scanned.summary)
            // Three segments of 10, 10 and 5 records, cut into full batches.
            let size = max(1, batchSize)
            let expectedCount = [10, 10, 5].map { ($0 + size - 1) / size }.reduce(0, +)
            #expect(batches.count == expectedCount)
        }
        try withTempFolder { path in
            try writeLog(path, batches: (0..<12).map { r in sampleBodies(r * 40..<(r + 1) * 40) }, options: EventLog.Options(fsync: .never, segmentSize: 2048))
            #expect(try LogDirectory(path: path).segments().count > 3)
            let scanned = try scanAll(path)
            let (batches, summary) = try Self.scanBatches(path, batchSize: batchSize)
            Self.check(batches, against: scanned, batchSize: batchSize, "written log, batch size \(batchSize)")
            #expect(summary == scanned.summary)
            #expect(summary.events == 480)
        }
    }

    @Test("scanRecords honours fromSeq and throughSeq as scan does")
    func scanRecordsWindow() throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            let windows: [(UInt64, UInt64)] = [(1, .max), (2, .max), (10, .max), (11, .max), (12, 22), (21, 21), (25, .max), (26, .max),
                                               (1, 0), (1, 1), (1, 10), (1, 11), (8, 22), (15, 12), (100, .max)]
            for (from, through) in windows {
                let scanned = try scanAll(path, fromSeq: from, throughSeq: through)
                for batchSize in [1, 3, 100] {
                    let (batches, summary) = try Self.scanBatches(path, fromSeq: from, throughSeq: through, batchSize: batchSize)
                    Self.check(batches, against: scanned, batchSize: batchSize, "from \(from) through \(through)")
                    #expect(summary == scanned.summary, "from \(from) through \(through)")
                }
            }
        }
    }

    @Test("scanRecords reports a torn tail in its summary exactly as scan does")
    func scanRecordsTornTail() throws {
        for cut in [1, 5, 9, 20] {
            try withTempFolder { path in
                let layout = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
                let last = try readFileBytes(layout[2].path)
                try writeFileBytes(layout[2].path, Array(last.dropLast(cut)))
                let scanned = try scanAll(path)
                #expect(scanned.summary.tornTail != nil)
                let (batches, summary) = try Self.scanBatches(path, batchSize: 4)
                Self.check(batches, against: scanned, batchSize: 4, "cut \(cut)")
                #expect(summary == scanned.summary)
            }
        }
    }

    @Test("scanRecords leaves a payload's body to the visitor: an undecodable event with a valid head is handed over")
    func scanRecordsUndecodableBody() throws {
        try withTempFolder { path in
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var (bytes, _) = makeSegment(firstSeq: 1, events: makeEvents(1...2))
            let badOffset = Int64(bytes.count)
            let bad = Self.payload(Event(seq: 3, timestampMs: 0, body: .voteCast(poll: "p", voter: "no spaces", option: "a")))
            RecordFrame.append(to: &bytes) { $0 += bad }
            RecordFrame.append(Event(seq: 4, timestampMs: 0, body: .pollClosed(poll: "p")), to: &bytes)
            try writeFileBytes(segmentPath, bytes)
            #expect(scanError(path) == .corruptRecord(path: segmentPath, offset: badOffset, reason: EventCodec.DecodeError.invalidIdentifier.description))
            let (batches, summary) = try Self.scanBatches(path, batchSize: 10)
            #expect(batches.flatMap { $0 }.map(\.seq) == [1, 2, 3, 4])
            #expect(batches.flatMap { $0 }[2].payload == bad)
            #expect(batches.flatMap { $0 }[2].offset == badOffset)
            #expect(summary.events == 4 && summary.lastSeq == 4)
        }
    }

    @Test("scanRecords throws scan's error for damage, after handing over the records before it")
    func scanRecordsDamage() throws {
        try withTempFolder { path in
            let layout = try Self.makeLog(path, firsts: [1, 11, 21], last: 25)
            // Record 14 (the 4th of the middle segment): a flipped payload byte.
            var bytes = try readFileBytes(layout[1].path)
            bytes[Int(layout[1].offsets[3]) + RecordFrame.headerSize + 5] ^= 1
            try writeFileBytes(layout[1].path, bytes)
            let expected = LogError.corruptRecord(path: layout[1].path, offset: layout[1].offsets[3], reason: RecordFrame.Reason.badChecksum.description)
            #expect(scanError(path) == expected)
            for batchSize in [1, 2, 5, 100] {
                var seqs: [UInt64] = []
                do throws(LogError) {
                    _ = try LogScanner(directory: LogDirectory(path: path)).scanRecords(batchSize: batchSize) { batch in
                        seqs += batch.records.map(\.seq)
                    }
                    Issue.record("expected corruption")
                } catch {
                    #expect(error == expected)
                }
                #expect(seqs == Array(1...13), "batch size \(batchSize)")
            }
        }
        // A head that is not an event's (unknown kind): corruption, with scan's reason.
        try withTempFolder { path in
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var (bytes, _) = makeSegment(firstSeq: 1, events: makeEvents(1...2))
            let badOffset = Int64(bytes.count)
            RecordFrame.append(to: &bytes) { $0 += [9, 3, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8) }
            RecordFrame.append(Event(seq: 4, timestampMs: 0, body: .pollClosed(poll: "p")), to: &bytes)
            try writeFileBytes(segmentPath, bytes)
            let expected = LogError.corruptRecord(path: segmentPath, offset: badOffset, reason: EventCodec.DecodeError.unknownKind(9).description)
            #expect(scanError(path) == expected)
            do throws(LogError) {
                _ = try Self.scanBatches(path, batchSize: 10)
                Issue.record("expected corruption")
            } catch {
                #expect(error == expected)
            }
        }
    }

    @Test("a visitor's error stops scanRecords and is rethrown; the batch is visited once", arguments: [1, 3, 5, 10, 100])
    func scanRecordsVisitorThrows(_ batchSize: Int) throws {
        try withTempFolder { path in
            _ = try Self.makeLog(path, firsts: [1, 11], last: 25)
            var visits: [[UInt64]] = []
            let failure = LogError.invalidEvent(path: "x", offset: 1, seq: 3, reason: "test")
            do throws(LogError) {
                _ = try LogScanner(directory: LogDirectory(path: path)).scanRecords(batchSize: batchSize) { batch throws(LogError) in
                    visits.append(batch.records.map(\.seq))
                    if batch.records.contains(where: { $0.seq == 3 }) { throw failure }
                    // Anything after the failing batch would be a second failure.
                    if visits.count > 1 && visits[visits.count - 2].contains(3) {
                        throw LogError.invalidEvent(path: "y", offset: 2, seq: 0, reason: "visited again")
                    }
                }
                Issue.record("expected the visitor's error")
            } catch {
                #expect(error == failure, "batch size \(batchSize)")
            }
            let size = min(batchSize, 10)
            // The batches up to and including the one holding seq 3, each once.
            #expect(visits == stride(from: 1, through: 3, by: size).map { start in Array(UInt64(start)...UInt64(start + size - 1)) }, "batch size \(batchSize)")
        }
    }
}
