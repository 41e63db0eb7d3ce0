import Testing
@testable import PollTallyLog
import PollTallyCore

/// The zeros the writer keeps after its records, so that a sync overwrites instead of growing the file.
@Suite("LogWriter: zeros written ahead")
struct LogWriterZerosTests {
    @Test("how far ahead: as much as is written, 64 KiB to 1 MiB, to 4 KiB, never past the segment size unless the batch is")
    func reservedLength() {
        let mib: Int64 = 1 << 20
        #expect(LogWriter.reservedLength(after: 100, segmentSize: 64 * mib) == 69_632)
        #expect(LogWriter.reservedLength(after: 65_536, segmentSize: 64 * mib) == 131_072)
        #expect(LogWriter.reservedLength(after: 300_001, segmentSize: 64 * mib) == 602_112)
        #expect(LogWriter.reservedLength(after: 10 * mib + 1, segmentSize: 64 * mib) == 11 * mib + 4096)
        #expect(LogWriter.reservedLength(after: 64 * mib - 10, segmentSize: 64 * mib) == 64 * mib)
        #expect(LogWriter.reservedLength(after: 3000, segmentSize: 4096) == 4096)
        #expect(LogWriter.reservedLength(after: 5000, segmentSize: 4096) == 5000, "a batch past the segment size gets no zeros")
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
}
