import Foundation
import PollTallyTestSupport
import Testing
@testable import PollTallyLog
import PollTallyCore

/// `LogCursor`: what `TAIL` reads the log with, a bounded chunk at a time.
@Suite("LogCursor")
struct LogCursorTests {
    static let smallSegments = EventLog.Options(fsync: .never, segmentSize: 512)

    /// Writes `count` sample events in batches of `batch` into small segments; returns every event.
    static func writeSmallSegments(_ path: String, count: Int = 200, batch: Int = 5,
                                   options: EventLog.Options = smallSegments) throws -> [Event] {
        let batches = stride(from: 1, to: count + 1, by: batch).map { start in sampleBodies(start..<min(start + batch, count + 1)) }
        try writeLog(path, batches: batches, options: options)
        return try scanAll(path).events
    }

    /// Reads until the cursor has passed `limit` (bounded number of calls, so a stuck cursor fails).
    static func drain(_ cursor: LogCursor, through limit: UInt64, maxBytes: Int = 64 * 1024) throws -> [Event] {
        var events: [Event] = []
        var calls = 0
        while cursor.nextSeq <= limit {
            calls += 1
            guard calls < 100_000 else { throw TestFailure("cursor stuck at \(cursor.nextSeq)") }
            events += try cursor.read(through: limit, maxBytes: maxBytes)
        }
        return events
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test("the test log really has several segments")
    func severalSegments() throws {
        try withTempFolder { path in
            let events = try Self.writeSmallSegments(path)
            #expect(events.map(\.seq) == Array(1...200))
            #expect(try LogDirectory(path: path).segments().count >= 10)
        }
    }

    @Test("from every seq, across segments: exactly the events from that seq on, then nothing")
    func fromEverySeq() throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path)
            let last = UInt64(all.count)
            for from in UInt64(1)...(last + 2) {
                // A small read size keeps this quick in debug builds; `defaultReadSize` covers the default.
                let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: from, chunkBytes: 4096)
                let read = try Self.drain(cursor, through: last)
                let wanted = from <= last ? Array(all[Int(from - 1)...]) : []
                #expect(read == wanted, "from \(from): got \(read.first?.seq ?? 0)…\(read.last?.seq ?? 0) (\(read.count))")
                #expect(cursor.nextSeq == max(from, last + 1))
                #expect(try cursor.read(through: last).isEmpty)
                #expect(try cursor.read(through: .max).isEmpty, "nothing past the end of the log")
            }
        }
    }

    @Test("the default read size gives the same events from a few seqs")
    func defaultReadSize() throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path)
            for from in [UInt64(1), 99, 200] {
                let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: from)
                #expect(try Self.drain(cursor, through: 200) == Array(all[Int(from - 1)...]))
            }
        }
    }

    @Test("seq 0 is read as seq 1")
    func fromZero() throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path, count: 20)
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 0)
            #expect(cursor.nextSeq == 1)
            #expect(try Self.drain(cursor, through: 20) == all)
        }
    }

    @Test("never returns an event past the limit, and continues exactly after it when the limit rises")
    func limit() throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path)
            var rng = SplitMix64(seed: 42)
            for _ in 0..<40 {
                let from = UInt64.random(in: 1...200, using: &rng)
                let limit = UInt64.random(in: 0...200, using: &rng)
                let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: from, chunkBytes: 4096)
                var got: [Event] = []
                for _ in 0..<1000 {
                    let chunk = try cursor.read(through: limit, maxBytes: 256)
                    #expect(chunk.allSatisfy { $0.seq <= limit }, "from \(from) limit \(limit): \(chunk.map(\.seq))")
                    got += chunk
                    if cursor.nextSeq > limit { break }
                }
                let wanted = from <= limit ? Array(all[Int(from - 1)..<Int(limit)]) : []
                #expect(got == wanted, "from \(from) limit \(limit)")
                #expect(cursor.nextSeq == max(from, limit + 1))
                #expect(try cursor.read(through: limit).isEmpty)
                // Raising the limit picks up at the next seq, no gap, no repeat.
                let rest = try Self.drain(cursor, through: 200)
                #expect(got + rest == Array(all[Int(from - 1)...]), "from \(from) limit \(limit)")
            }
        }
    }

    @Test("limit 0 and a limit below the start return nothing and do not move")
    func limitBelowStart() throws {
        try withTempFolder { path in
            _ = try Self.writeSmallSegments(path, count: 30)
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 10)
            #expect(try cursor.read(through: 0).isEmpty)
            #expect(try cursor.read(through: 9).isEmpty)
            #expect(cursor.nextSeq == 10)
            #expect(try cursor.read(through: 10).map(\.seq) == [10])
        }
    }

    @Test("chunked reads: any read size and any maxBytes give the same events", arguments: [1, 7, 33, 100, 4096])
    func chunkedReads(_ chunkBytes: Int) throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path)
            for maxBytes in [1, 50, 300, 64 * 1024] {
                for from in [UInt64(1), 2, 37, 100, 199, 200] {
                    let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: from, chunkBytes: chunkBytes)
                    var read: [Event] = []
                    var calls = 0
                    while cursor.nextSeq <= 200, calls < 10_000 {
                        calls += 1
                        let chunk = try cursor.read(through: 200, maxBytes: maxBytes)
                        if maxBytes == 1 { #expect(chunk.count <= 1) }
                        read += chunk
                    }
                    #expect(read == Array(all[Int(from - 1)...]), "chunk \(chunkBytes) maxBytes \(maxBytes) from \(from)")
                }
            }
        }
    }

    @Test("one read returns about maxBytes of records, never the whole log")
    func readIsBounded() throws {
        try withTempFolder { path in
            let all = try Self.writeSmallSegments(path, count: 400, options: EventLog.Options(fsync: .never))
            let recordBytes = all.map { frame($0).count }
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 1, chunkBytes: 1024)
            let first = try cursor.read(through: 400, maxBytes: 1000)
            try #require(!first.isEmpty)
            let firstBytes = recordBytes.prefix(first.count).reduce(0, +)
            #expect(first.count < 400)
            // It stops once it has taken maxBytes: at most one record past it.
            #expect(firstBytes - recordBytes[first.count - 1] < 1000)
            #expect(firstBytes >= 1000)
        }
    }

    @Test("an empty read means nothing more up to the limit, even when starting deep inside a segment")
    func emptyMeansCaughtUp() throws {
        try withTempFolder { path in
            // One big segment: reaching seq 150 means passing 149 records first.
            let all = try Self.writeSmallSegments(path, count: 200, options: EventLog.Options(fsync: .never))
            #expect(try LogDirectory(path: path).segments().count == 1)
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 150)
            let first = try cursor.read(through: 200, maxBytes: 200)
            #expect(!first.isEmpty, "read(through: 200) returned no event though seqs 150…200 are in the log (nextSeq \(cursor.nextSeq))")
            #expect(first.first == all[149])
        }
    }

    @Test("follows a growing log across segment rolls: no gap, no repeat, never past what is durable")
    func growingLog() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: Self.smallSegments)
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 1, chunkBytes: 100)
            let ahead = LogCursor(directory: LogDirectory(path: path), fromSeq: 150)
            var read: [Event] = []
            var readAhead: [Event] = []
            #expect(try cursor.read(through: 0).isEmpty)
            var next = 1
            var rng = SplitMix64(seed: 7)
            while next <= 300 {
                let n = min(Int.random(in: 1...9, using: &rng), 301 - next)
                session.appendAndWait(sampleBodies(next..<next + n))
                next += n
                let durable = session.writer.counters.durableSeq
                #expect(durable == UInt64(next - 1))
                // Sometimes read only part of the way, sometimes all of it.
                let limit = Bool.random(using: &rng) ? durable : UInt64.random(in: cursor.nextSeq - 1...durable, using: &rng)
                let chunk = try Self.drain(cursor, through: limit, maxBytes: 120)
                #expect(chunk.allSatisfy { $0.seq <= limit })
                read += chunk
                readAhead += try Self.drain(ahead, through: durable)
            }
            read += try Self.drain(cursor, through: 300)
            session.close()
            let all = try scanAll(path).events
            #expect(all.count == 300)
            #expect(try LogDirectory(path: path).segments().count >= 10)
            #expect(read == all)
            #expect(readAhead == Array(all[149...]))
        }
    }

    @Test("reads what the writer makes durable while it keeps appending")
    func concurrentWriter() throws {
        try withTempFolder { path in
            let session = try openSession(path, options: EventLog.Options(fsync: .never, segmentSize: 2048))
            let done = DispatchSemaphore(value: 0)
            let writer = session.writer
            let thread = Thread {
                for start in stride(from: 1, to: 3001, by: 3) { _ = writer.append(sampleBodies(start..<start + 3)) }
                done.signal()
            }
            thread.start()
            let cursor = LogCursor(directory: LogDirectory(path: path), fromSeq: 1, chunkBytes: 8192)
            var read: [Event] = []
            while cursor.nextSeq <= 3000 {
                let durable = session.writer.counters.durableSeq
                let chunk = try cursor.read(through: durable)
                #expect(chunk.allSatisfy { $0.seq <= durable })
                read += chunk
                if chunk.isEmpty { usleep(100) }
            }
            done.wait()
            session.close()
            #expect(read.map(\.seq) == Array(1...3000))
            #expect(read == (try scanAll(path).events))
        }
    }
}

extension LogCursor {
    /// The next events up to `limit` decoded, for these tests: the cursor's visitor `read`, each
    /// payload decoded in full (a payload the cursor passed that does not decode fails the test).
    func read(through limit: UInt64, maxBytes: Int = 64 * 1024) throws(LogError) -> [Event] {
        var events: [Event] = []
        try read(through: limit, maxBytes: maxBytes) { _, payload in
            do throws(EventCodec.DecodeError) {
                events.append(try EventCodec.decode(payload))
            } catch {
                Issue.record("the cursor handed over a payload that does not decode: \(error)")
            }
        }
        return events
    }
}
