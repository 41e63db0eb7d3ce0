import Testing
import PollTallyTestSupport
@testable import PollTallyLog
import PollTallyCore

@Suite("EventLog recovery")
struct EventLogRecoveryTests {
    static let longQuestion = "What is the single best way to settle a long-running argument about lunch?"

    /// The bodies of the reference log; the last one is the largest record.
    static let bodies: [EventBody] = sampleBodies(0..<9) + [
        .pollCreated(poll: "final-poll", options: ["a", "b", "c", "d"], question: longQuestion),
    ]

    @Test("opening a new folder creates it with segment 1, and appends start at seq 1")
    func newFolder() throws {
        try withTempFolder { path in
            let dataPath = path + "/nested/data"
            let session = try openSession(dataPath)
            #expect(session.events.isEmpty)
            #expect(session.recovery.events == 0)
            #expect(session.recovery.lastSeq == 0)
            #expect(session.recovery.cutTail == nil)
            #expect(try readFileBytes(dataPath + "/00000000000000000001.log") == LogFileHeader(firstSeq: 1).encoded)
            #expect(try session.appendAndWait([sampleBody(0)]).get().firstSeq == 1)
            session.close()
            #expect(try reopenEvents(dataPath).events.map(\.seq) == [1])
        }
    }

    @Test("reopening several times continues the seqs")
    func reopenContinues() throws {
        try withTempFolder { path in
            for round in 0..<4 {
                let session = try openSession(path, options: EventLog.Options(fsync: .always))
                #expect(session.events.map(\.body) == sampleBodies(0..<round * 5))
                #expect(session.recovery.cutTail == nil)
                let receipt = try session.appendAndWait(sampleBodies(round * 5..<round * 5 + 5)).get()
                #expect(receipt.firstSeq == UInt64(round * 5 + 1))
                session.close()
            }
            #expect(try LogDirectory(path: path).segments().count == 1)
        }
    }

    @Test("a second open of a held folder throws .locked; after close it opens")
    func lockedWhileOpen() throws {
        try withTempFolder { path in
            let session = try openSession(path)
            #expect(openError(path) == .locked(path: path))
            session.close()
            #expect(openError(path) == nil)
        }
    }

    @Test("a torn last record, cut at every byte length, is cut off and appending continues at its seq")
    func tornTailEveryLength() throws {
        try withTempFolder { path in
            let reference = path + "/reference"
            try writeLog(reference, batches: [Array(Self.bodies.prefix(4)), Array(Self.bodies.dropFirst(4))])
            let segmentName = LogDirectory.segmentName(firstSeq: 1)
            let full = try readFileBytes(reference + "/" + segmentName)
            let locations = try scanAll(reference).locations
            #expect(locations.count == Self.bodies.count)
            let validLength = Int(locations.last!.offset)
            let lastRecordSize = full.count - validLength
            #expect(lastRecordSize > 90)

            for cut in 1..<lastRecordSize {
                let dataPath = path + "/cut-\(cut)"
                let segmentPath = dataPath + "/" + segmentName
                try FileSystem.createDirectory(dataPath)
                try writeFileBytes(segmentPath, Array(full.prefix(validLength + cut)))

                // The scanner classifies it without touching the file.
                let summary = try scanAll(dataPath).summary
                #expect(summary.events == Self.bodies.count - 1, "cut \(cut)")
                #expect(summary.tornTail?.offset == Int64(validLength), "cut \(cut)")
                #expect(try fileSize(segmentPath) == Int64(validLength + cut))

                let session = try openSession(dataPath)
                #expect(session.events.map(\.body) == Array(Self.bodies.dropLast()), "cut \(cut)")
                #expect(session.recovery.events == Self.bodies.count - 1)
                #expect(session.recovery.lastSeq == UInt64(Self.bodies.count - 1))
                #expect(session.recovery.cutTail == LogScanner.TornTail(path: segmentPath, offset: Int64(validLength), bytes: Int64(cut), reason: "incomplete record"), "cut \(cut)")
                #expect(try fileSize(segmentPath) == Int64(validLength), "open cuts the file to its valid length (cut \(cut))")
                let receipt = try session.appendAndWait([.pollClosed(poll: "after-\(cut)")]).get()
                #expect(receipt.firstSeq == UInt64(Self.bodies.count), "cut \(cut)")
                session.close()

                let (events, recovery) = try reopenEvents(dataPath)
                #expect(recovery.cutTail == nil, "cut \(cut)")
                #expect(events.map(\.seq) == Array(1...UInt64(Self.bodies.count)), "cut \(cut)")
                #expect(events.last?.body == .pollClosed(poll: "after-\(cut)"), "cut \(cut)")
                try FileSystem.remove(segmentPath)
            }
        }
    }

    @Test("the torn first record of a freshly rolled segment is cut back to the header", arguments: [1, 7, 8, 9, 20])
    func tornFirstRecordOfRolledSegment(_ cut: Int) throws {
        try withTempFolder { path in
            try writeFileBytes(path + "/" + LogDirectory.segmentName(firstSeq: 1), makeSegment(firstSeq: 1, events: makeEvents(1...5)).bytes)
            let (second, _) = makeSegment(firstSeq: 6, events: makeEvents(6...6))
            let secondPath = path + "/" + LogDirectory.segmentName(firstSeq: 6)
            try writeFileBytes(secondPath, Array(second.prefix(LogFileHeader.size + cut)))
            let session = try openSession(path)
            #expect(session.recovery.events == 5)
            #expect(session.recovery.cutTail?.offset == Int64(LogFileHeader.size))
            #expect(session.recovery.cutTail?.path == secondPath)
            #expect(try fileSize(secondPath) == Int64(LogFileHeader.size))
            #expect(try session.appendAndWait([sampleBody(100)]).get().firstSeq == 6)
            session.close()
            let events = try reopenEvents(path).events
            #expect(events.map(\.seq) == Array(1...6))
            #expect(events.last?.body == sampleBody(100))
        }
    }

    @Test("junk after the last record is cut, reported and never counted", arguments: [
        (false, 1), (false, 7), (false, 8), (false, 9), (false, 100), (false, 5000),
        (true, 1), (true, 7), (true, 8), (true, 9), (true, 100), (true, 5000),
    ])
    func junkAfterLastRecord(_ zerosFirst: Bool, _ count: Int) throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let valid = try readFileBytes(segmentPath)
            var rng = SplitMix64(seed: UInt64(count))
            // Random bytes, or zeros with one nonzero byte at the end: zeros alone are room (below).
            var junk = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if zerosFirst { junk = [UInt8](repeating: 0, count: count - 1) + [0x5A] }
            junk[count - 1] |= 1
            try writeFileBytes(segmentPath, valid + junk)

            let session = try openSession(path)
            #expect(session.events.map(\.body) == Self.bodies)
            #expect(session.recovery.events == Self.bodies.count)
            #expect(session.recovery.cutTail?.offset == Int64(valid.count))
            #expect(session.recovery.cutTail?.bytes == Int64(count))
            #expect(session.recovery.cutTail?.path == segmentPath)
            #expect(try fileSize(segmentPath) == Int64(valid.count))
            #expect(try session.appendAndWait([sampleBody(50)]).get().firstSeq == UInt64(Self.bodies.count + 1))
            session.close()
            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(events.map(\.body) == Self.bodies + [sampleBody(50)])
        }
    }

    @Test("zeros after the last record are room to write into: not cut, not counted, written over", arguments: [1, 7, 8, 9, 100, 5000, 1 << 20])
    func zerosAfterLastRecord(_ count: Int) throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let valid = try readFileBytes(segmentPath)
            try writeFileBytes(segmentPath, valid + [UInt8](repeating: 0, count: count))
            #expect(try scanAll(path).summary.reservedBytes == Int64(count))
            #expect(try scanAll(path).summary.bytesRead == Int64(valid.count))

            let session = try openSession(path)
            #expect(session.events.map(\.body) == Self.bodies)
            #expect(session.recovery.cutTail == nil)
            #expect(try fileSize(segmentPath) == Int64(valid.count + count), "the zeros are kept to write into")
            #expect(try session.appendAndWait([sampleBody(50)]).get().firstSeq == UInt64(Self.bodies.count + 1))
            #expect(try Array(readFileBytes(segmentPath).prefix(valid.count)) == valid)
            session.close()
            // A clean close leaves the segment ending with its last record.
            var record: [UInt8] = []
            let events = try reopenEvents(path).events
            #expect(events.map(\.body) == Self.bodies + [sampleBody(50)])
            RecordFrame.append(try #require(events.last), to: &record)
            #expect(try readFileBytes(segmentPath) == valid + record)
        }
    }

    @Test("a bad last record (checksum) with nothing after it is a torn tail")
    func badLastRecordIsTorn() throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var bytes = try readFileBytes(segmentPath)
            let lastOffset = try scanAll(path).locations.last!.offset
            bytes[bytes.count - 2] ^= 0x10
            try writeFileBytes(segmentPath, bytes)
            let session = try openSession(path)
            #expect(session.recovery.events == Self.bodies.count - 1)
            #expect(session.recovery.cutTail?.offset == lastOffset)
            #expect(session.recovery.cutTail?.reason == RecordFrame.Reason.badChecksum.description)
            session.close()
            #expect(try fileSize(segmentPath) == lastOffset)
        }
    }

    @Test("a corrupt record before the tail: open throws corruptRecord at its exact offset, like the scanner")
    func corruptMiddleRecord() throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let locations = try scanAll(path).locations
            var bytes = try readFileBytes(segmentPath)
            let target = locations[5].offset
            bytes[Int(target) + RecordFrame.headerSize + 5] ^= 0x01
            try writeFileBytes(segmentPath, bytes)

            let expected = LogError.corruptRecord(path: segmentPath, offset: target, reason: RecordFrame.Reason.badChecksum.description)
            #expect(openError(path) == expected)
            #expect(scanError(path) == expected)
            // A failed open releases the lock and leaves the file alone: the same error again, not .locked.
            #expect(openError(path) == expected)
            #expect(try readFileBytes(segmentPath) == bytes)
            #expect(expected.description.contains("byte offset \(target)"))
        }
    }

    @Test("corruption in an older segment makes open throw")
    func corruptOlderSegment() throws {
        try withTempFolder { path in
            try writeLog(path, batches: (0..<10).map { r in sampleBodies(r * 20..<(r + 1) * 20) },
                         options: EventLog.Options(fsync: .never, segmentSize: 1024))
            let segments = try LogDirectory(path: path).segments()
            #expect(segments.count >= 3)
            let victim = segments[1]
            var bytes = try readFileBytes(victim.path)
            let firstRecord = Int64(LogFileHeader.size)
            bytes[Int(firstRecord) + RecordFrame.headerSize + 2] ^= 0x80
            try writeFileBytes(victim.path, bytes)
            let info = corruptRecordInfo(openError(path))
            #expect(info?.path == victim.path)
            #expect(info?.offset == firstRecord)
        }
    }

    @Test("bad magic in the only segment → badHeader")
    func badMagic() throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            var bytes = try readFileBytes(segmentPath)
            bytes[3] ^= 0xFF
            try writeFileBytes(segmentPath, bytes)
            #expect(openError(path) == .badHeader(path: segmentPath, offset: 0, reason: LogFileHeader.DecodeError.badMagic.description))
            #expect(try readFileBytes(segmentPath) == bytes, "a bad header is never overwritten")
        }
    }

    @Test("a last segment shorter than its header (crash right after create) is recreated", arguments: [0, 5, 23])
    func shortLastSegmentRecreated(_ length: Int) throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let next = UInt64(Self.bodies.count + 1)
            let shortPath = path + "/" + LogDirectory.segmentName(firstSeq: next)
            try writeFileBytes(shortPath, Array(LogFileHeader(firstSeq: next).encoded.prefix(length)))

            let session = try openSession(path)
            #expect(session.events.map(\.body) == Self.bodies)
            #expect(session.recovery.cutTail == LogScanner.TornTail(path: shortPath, offset: 0, bytes: Int64(length), reason: "incomplete segment header"))
            #expect(try readFileBytes(shortPath) == LogFileHeader(firstSeq: next).encoded)
            #expect(try session.appendAndWait([sampleBody(77)]).get().firstSeq == next)
            session.close()

            let (events, recovery) = try reopenEvents(path)
            #expect(recovery.cutTail == nil)
            #expect(events.map(\.body) == Self.bodies + [sampleBody(77)])
            #expect(try LogDirectory(path: path).segments().map(\.firstSeq) == [1, next])
        }
    }

    /// A torn header is only a torn tail when the segment is the one the writer would have created
    /// next. Segment 1 ending at seq 10 next to a header-less `…20.log` means seqs 11…19 are gone:
    /// a gap, which must throw like the same gap with an intact header does, not be papered over
    /// by starting a new segment at 11 beside the orphan.
    @Test("a short last segment whose name leaves a gap after the previous segment is a sequence gap")
    func shortLastSegmentWithGap() throws {
        try withTempFolder { path in
            try writeFileBytes(path + "/" + LogDirectory.segmentName(firstSeq: 1), makeSegment(firstSeq: 1, events: makeEvents(1...10)).bytes)
            let orphanPath = path + "/" + LogDirectory.segmentName(firstSeq: 20)

            // With an intact header the gap is caught.
            try writeFileBytes(orphanPath, LogFileHeader(firstSeq: 20).encoded)
            #expect(openError(path) == .sequenceGap(path: orphanPath, offset: 0, expected: 11, found: 20))

            // With a header cut short, it must be caught too.
            try writeFileBytes(orphanPath, Array(LogFileHeader(firstSeq: 20).encoded.prefix(10)))
            let error = openError(path)
            if case .sequenceGap = error {} else {
                Issue.record("expected a sequence gap, got \(error.map { "\($0)" } ?? "a successful open"); segments now: \((try? LogDirectory(path: path).segments().map(\.firstSeq)) ?? [])")
            }
        }
    }

    @Test("an only segment that is empty (crash right after create) is recreated at seq 1")
    func emptyOnlySegment() throws {
        try withTempFolder { path in
            let segmentPath = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            try writeFileBytes(segmentPath, [])
            let session = try openSession(path)
            #expect(session.recovery.events == 0)
            #expect(session.recovery.cutTail?.offset == 0)
            #expect(try session.appendAndWait([sampleBody(0)]).get().firstSeq == 1)
            session.close()
            #expect(try reopenEvents(path).events.map(\.body) == [sampleBody(0)])
        }
    }

    @Test("open hands the visitor each event with the same location the scanner reports")
    func visitorLocations() throws {
        try withTempFolder { path in
            try writeLog(path, batches: (0..<6).map { r in sampleBodies(r * 10..<(r + 1) * 10) },
                         options: EventLog.Options(fsync: .never, segmentSize: 512))
            let scanned = try scanAll(path)
            var seen: [(Event, LogScanner.Location)] = []
            let opened = try EventLog.open(LogDirectory(path: path), options: EventLog.Options()) { event, location throws(LogError) in
                seen.append((event, location))
            }
            opened.writer.start(observer: RecordingObserver())
            opened.writer.close()
            opened.lock.close()
            #expect(seen.map(\.0) == scanned.events)
            #expect(seen.map(\.1) == scanned.locations)
            #expect(Set(seen.map(\.1.path)).count > 1, "the log spans several segments")
        }
    }

    @Test("a visitor error aborts open and releases the lock")
    func visitorErrorReleasesLock() throws {
        try withTempFolder { path in
            try writeLog(path, batches: [Self.bodies])
            let failure = LogError.invalidEvent(path: path, offset: 24, seq: 2, reason: "test")
            do throws(LogError) {
                let opened = try EventLog.open(LogDirectory(path: path), options: EventLog.Options()) { event, _ throws(LogError) in
                    if event.seq == 2 { throw failure }
                }
                opened.writer.start(observer: RecordingObserver())
                opened.writer.close()
                opened.lock.close()
                Issue.record("expected the visitor's error")
            } catch {
                #expect(error == failure)
            }
            #expect(openError(path) == nil)
        }
    }
}
