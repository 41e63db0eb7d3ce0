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
            try writeFileBytes(older.path, original + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            info = corruptRecordInfo(scanError(path))
            #expect(info?.offset == Int64(original.count))

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
            #expect(scanError(path) == .badHeader(path: layout[1].path, reason: LogFileHeader.DecodeError.badMagic.description))
            #expect(openError(path) == .badHeader(path: layout[1].path, reason: LogFileHeader.DecodeError.badMagic.description))

            bad = original
            bad[8] = 2
            try writeFileBytes(layout[1].path, bad)
            #expect(scanError(path) == .badHeader(path: layout[1].path, reason: LogFileHeader.DecodeError.unsupportedVersion(2).description))

            bad = original
            bad[16] = 7  // header first seq 7, name says 6
            try writeFileBytes(layout[1].path, bad)
            if case .badHeader(let badPath, _) = scanError(path) { #expect(badPath == layout[1].path) } else { Issue.record("expected badHeader") }

            try writeFileBytes(layout[1].path, original)
            let first = try readFileBytes(layout[0].path)
            try writeFileBytes(layout[0].path, Array(first.prefix(10)))
            #expect(scanError(path) == .badHeader(path: layout[0].path, reason: LogFileHeader.DecodeError.truncated.description))
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
