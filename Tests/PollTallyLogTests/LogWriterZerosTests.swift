import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore

/// A disk with room for the segment's first `room` bytes: a write past them writes what fits and
/// fails with ENOSPC, as a full disk does.
final class NearlyFullIO: LogFileIO {
    let room: Int64
    let refusedZeros = Atomic(0)

    init(room: Int64) { self.room = room }

    func write(_ bytes: UnsafeRawBufferPointer, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        let fits = max(0, min(Int64(bytes.count), room - offset))
        try fd.writeAll(UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(fits))), at: offset)
        if fits < Int64(bytes.count) { throw .noSpace }
    }

    func writeZeros(_ count: Int, to fd: FileDescriptor, at offset: Int64) throws(Errno) {
        do throws(Errno) {
            try write([UInt8](repeating: 0, count: count), to: fd, at: offset)
        } catch {
            refusedZeros.add(1, ordering: .relaxed)
            throw error
        }
    }

    func dataSync(_ fd: FileDescriptor) throws(Errno) { try fd.dataSync() }
}

/// The zeros the writer keeps after its records, so that a sync overwrites instead of growing the file.
@Suite("LogWriter: zeros written ahead")
struct LogWriterZerosTests {
    @Test("how far ahead: as much as is written, 64 KiB to 1 MiB, to 4 KiB, never past the segment size unless the batch is")
    func reservedLength() {
        let mib: Int64 = 1 << 20
        #expect(SegmentCursor.reservedLength(after: 100, segmentSize: 64 * mib) == 69_632)
        #expect(SegmentCursor.reservedLength(after: 65_536, segmentSize: 64 * mib) == 131_072)
        #expect(SegmentCursor.reservedLength(after: 300_001, segmentSize: 64 * mib) == 602_112)
        #expect(SegmentCursor.reservedLength(after: 10 * mib + 1, segmentSize: 64 * mib) == 11 * mib + 4096)
        #expect(SegmentCursor.reservedLength(after: 64 * mib - 10, segmentSize: 64 * mib) == 64 * mib)
        #expect(SegmentCursor.reservedLength(after: 3000, segmentSize: 4096) == 4096)
        #expect(SegmentCursor.reservedLength(after: 5000, segmentSize: 4096) == 5000, "a batch past the segment size gets no zeros")
    }

    @Test("while open the segment ends in zeros and later batches write over them; closing cuts them")
    func zerosWhileOpenCutAtClose() throws {
        try withTempFolder { path in
            let segment = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let session = try openSession(path, options: EventLog.Options(fsync: .always))
            #expect(try fileSize(segment) == Int64(LogFileHeader.size), "no zeros before the first write")
            _ = session.appendAndWait(sampleBodies(0..<10))
            let length = try fileSize(segment)
            let first = try recordsLength(segment)
            #expect(length == 69_632)
            #expect(session.writer.counters.zeroWritesFailed == 0)
            _ = session.appendAndWait(sampleBodies(10..<20))
            #expect(try fileSize(segment) == length, "the second batch went into the zeros")
            let second = try recordsLength(segment)
            #expect(second > first)
            #expect(try readFileBytes(segment)[Int(second)...].allSatisfy { $0 == 0 })
            #expect(Int(second) == LogFileHeader.size + Int(session.writer.counters.bytesWritten))
            session.close()
            #expect(try fileSize(segment) == second)
            #expect(try scanAll(path).events.count == 20)
        }
    }

    @Test("the segments left behind by rolls end with their last record (zeros never pass the segment size)")
    func rolledSegmentsEndWithARecord() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .always, segmentSize: 2048))
            for start in stride(from: 0, to: 400, by: 20) { _ = session.appendAndWait(sampleBodies(start..<start + 20)) }
            let segments = try LogDirectory(path: path).segments()
            #expect(segments.count > 2)
            for older in segments.dropLast() {
                let bytes = try readFileBytes(older.path)
                #expect(bytes.last != 0, "\(older.path) ends with its last record")
            }
            session.close()
            #expect(try scanAll(path).events.count == 400)
        }
    }

    @Test("a disk with no room for the zeros still takes the batches that fit, without them")
    func nearlyFullDisk() throws {
        try withTempFolder { path in
            let segment = path + "/" + LogDirectory.segmentName(firstSeq: 1)
            let io = NearlyFullIO(room: 20_000)
            let session = try openSession(path, options: EventLog.Options(fsync: .always, io: io))
            var appended = 0
            while appended < 2_000, session.observer.failureCount == 0, case .success = session.appendAndWait(sampleBodies(appended..<appended + 10)) {
                appended += 10
            }
            let durable = Int(session.writer.counters.durableSeq)
            #expect(session.writer.counters.zeroWritesFailed == UInt64(io.refusedZeros.load(ordering: .relaxed)), "each refusal is counted")
            #expect(durable > 100, "batches that fit are written and synced")
            #expect(durable < 2_000, "until the disk is full")
            #expect(io.refusedZeros.load(ordering: .relaxed) > 1, "the zeros were refused, the batches taken")
            session.close()
            let scanned = try scanAll(path)
            // Complete records of the batch that did not fit may be there too, never acknowledged.
            #expect(scanned.events.count >= durable && scanned.events.count < durable + 10, "everything acknowledged is in the file")
            #expect(scanned.events.prefix(durable).map(\.body) == sampleBodies(0..<durable), "in order")
            #expect(try recordsLength(segment) <= 20_000)
        }
    }
}
