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
