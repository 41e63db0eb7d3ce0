import Testing
@testable import PollTallyLog
import PollTallyCore

/// What `scan(fromSeq:)` does not read (the segments wholly before `fromSeq`'s), and
/// `verifySegment`, which checks them one at a time afterwards.
@Suite("LogScanner: skipped segments and verifySegment")
struct LogScannerSkipTests {
    @Test("whole segments before fromSeq's are not read: damage there goes unseen, and they are counted")
    func skippedSegmentsAreNotRead() throws {
        try withTempFolder { path in
            let layout = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 25)
            // Wreck the first segment entirely.
            try writeFileBytes(layout[0].path, [UInt8](repeating: 0xAB, count: 100))
            let (events, _, summary) = try scanAll(path, fromSeq: 22)
            #expect(events.map(\.seq) == Array(22...25))
            #expect(summary.segmentsSkipped == 2)
            #expect(summary.bytesRead == (try fileSize(layout[2].path)))
            #expect(summary.lastSeq == 25)
            // Events before fromSeq in the segment that holds it are still verified.
            #expect(try scanAll(path, fromSeq: 12).summary.segmentsSkipped == 1)
            #expect(scanError(path) != nil)
        }
    }

    /// A byte of event `seq`'s payload after its head (kind and seq), in `layout`'s segment `index`.
    static func payloadByte(_ layout: [(path: String, offsets: [Int64])], segment index: Int, seq: Int, firstSeq: Int) -> Int {
        Int(layout[index].offsets[seq - firstSeq]) + RecordFrame.headerSize + 17 + 2 // past the head: kind u8, seq u64, timestamp u64
    }

    @Test("records before fromSeq in its segment are hopped over, their checksums left to verifySegment", arguments: [false, true])
    func recordsBeforeFromSeqAreHopped(mapsFiles: Bool) throws {
        try withTempFolder { path in
            let layout = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 25)
            var bytes = try readFileBytes(layout[1].path)
            let damaged = Self.payloadByte(layout, segment: 1, seq: 12, firstSeq: 11)
            bytes[damaged] ^= 0x01
            try writeFileBytes(layout[1].path, bytes)
            let (events, _, summary) = try scanAll(path, fromSeq: 15, mapsFiles: mapsFiles)
            #expect(events.map(\.seq) == Array(15...25))
            #expect(summary.lastSeq == 25 && summary.events == 11)
            // A scan that visits event 12 checks it, and so does the background verify's call.
            #expect(scanError(path).flatMap(corruptRecordInfo)?.offset == layout[1].offsets[1])
            let segments = try LogDirectory(path: path).segments()
            #expect(throws: LogError.self) {
                try LogScanner(directory: LogDirectory(path: path)).verifySegment(segments[1], expectedFirstSeq: 11, throughSeq: 14)
            }
            // Through the event before the damage it is clean.
            #expect(try LogScanner(directory: LogDirectory(path: path)).verifySegment(segments[1], expectedFirstSeq: 11, throughSeq: 11) == 11)
        }
    }

    /// Expects `scan(fromSeq:)` to throw corruption at byte `offset`.
    static func expectCorruption(_ path: String, fromSeq: UInt64, mapsFiles: Bool, at offset: Int64, _ what: String) {
        do throws(LogError) {
            _ = try scanAll(path, fromSeq: fromSeq, mapsFiles: mapsFiles)
            Issue.record("the damage in \(what) went unseen")
        } catch {
            #expect(corruptRecordInfo(error)?.offset == offset, "\(what): \(error)")
        }
    }

    @Test("the last record hopped over is checked in full; damage is named at its own offset", arguments: [false, true])
    func lastHoppedRecordIsChecked(mapsFiles: Bool) throws {
        try withTempFolder { path in
            let layout = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 25)
            var bytes = try readFileBytes(layout[1].path)
            bytes[Self.payloadByte(layout, segment: 1, seq: 14, firstSeq: 11)] ^= 0x01
            try writeFileBytes(layout[1].path, bytes)
            Self.expectCorruption(path, fromSeq: 15, mapsFiles: mapsFiles, at: layout[1].offsets[3], "event 14, the last one hopped over")
        }
    }

    @Test("a damaged length before fromSeq is named at its own offset", arguments: [false, true])
    func damagedLengthBeforeFromSeq(mapsFiles: Bool) throws {
        try withTempFolder { path in
            let layout = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 25)
            for length: [UInt8] in [[0xFF, 0xFF, 0x0F, 0x00], [9, 0, 0, 0], [60, 0, 0, 0]] {
                var bytes = try readFileBytes(layout[1].path)
                let original = bytes
                let record = Int(layout[1].offsets[2])
                bytes.replaceSubrange(record..<record + 4, with: length)
                try writeFileBytes(layout[1].path, bytes)
                Self.expectCorruption(path, fromSeq: 17, mapsFiles: mapsFiles, at: layout[1].offsets[2], "length \(length) of event 13")
                try writeFileBytes(layout[1].path, original)
            }
        }
    }

    @Test("from the middle of the log, an empty last segment still gives the right last seq")
    func emptyLastSegment() throws {
        try withTempFolder { path in
            _ = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 20)
            let summary = try scanAll(path, fromSeq: 21).summary
            #expect(summary.segmentsSkipped == 2)
            #expect(summary.events == 0)
            #expect(summary.lastSeq == 20)
            // And the writer opened after it continues at 21, in that segment.
            let session = try openSession(path)
            #expect(session.recovery.lastSeq == 20)
            session.close()
        }
    }

    @Test("firstSegmentRead is the last segment starting at or before fromSeq")
    func firstSegmentRead() {
        let segments = [1, 11, 21].map { LogDirectory.Segment(firstSeq: UInt64($0), path: "\($0)") }
        #expect(LogScanner.firstSegmentRead(segments, fromSeq: 1) == 0)
        #expect(LogScanner.firstSegmentRead(segments, fromSeq: 10) == 0)
        #expect(LogScanner.firstSegmentRead(segments, fromSeq: 11) == 1)
        #expect(LogScanner.firstSegmentRead(segments, fromSeq: 1000) == 2)
        #expect(LogScanner.firstSegmentRead([], fromSeq: 5) == 0)
    }

    @Test("verifySegment returns the last seq and checks the expected first seq")
    func verifySegment() throws {
        try withTempFolder { path in
            _ = try LogScannerTests.makeLog(path, firsts: [1, 11, 21], last: 25)
            let segments = try LogDirectory(path: path).segments()
            let scanner = LogScanner(directory: LogDirectory(path: path))
            #expect(try scanner.verifySegment(segments[0], expectedFirstSeq: 1) == 10)
            #expect(try scanner.verifySegment(segments[1], expectedFirstSeq: 11) == 20)
            #expect(try scanner.verifySegment(segments[2], expectedFirstSeq: nil) == 25)
            #expect(throws: LogError.sequenceGap(path: segments[1].path, offset: 0, expected: 12, found: 11)) {
                try scanner.verifySegment(segments[1], expectedFirstSeq: 12)
            }
        }
    }

    @Test("verifySegment names the file and offset of a damaged record, even the last one (never a torn tail)")
    func verifySegmentDamage() throws {
        try withTempFolder { path in
            let layout = try LogScannerTests.makeLog(path, firsts: [1, 11], last: 20)
            var bytes = try readFileBytes(layout[0].path)
            let target = layout[0].offsets[9]
            bytes[Int(target) + 10] ^= 0x01
            try writeFileBytes(layout[0].path, bytes)
            let segments = try LogDirectory(path: path).segments()
            do throws(LogError) {
                _ = try LogScanner(directory: LogDirectory(path: path)).verifySegment(segments[0], expectedFirstSeq: 1)
                Issue.record("damage not found")
            } catch {
                #expect(corruptRecordInfo(error)?.offset == target, "\(error)")
                #expect(corruptRecordInfo(error)?.path == layout[0].path)
            }
        }
    }
}
