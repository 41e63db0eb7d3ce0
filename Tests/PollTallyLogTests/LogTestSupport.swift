import Foundation
import PollTallyTestSupport
import Synchronization
import Testing
@testable import PollTallyLog
import PollTallyCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Temp folders

/// Runs `body` with a fresh, unique, empty folder under /tmp and removes it afterwards.
func withTempFolder<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/polltally-logtests-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { throw Errno.current }
    let path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

// MARK: - Deterministic randomness


// MARK: - Events

/// A varied event body for index `i` (the log does not check tally rules, only framing and seqs).
func sampleBody(_ i: Int) -> EventBody {
    switch i % 4 {
    case 0: return .pollCreated(poll: "p\(i)", options: ["yes", "no", "maybe"], question: "Question number \(i)?")
    case 1: return .voteCast(poll: "p\(i - 1)", voter: "v\(i)", option: "yes")
    case 2: return .voteRetracted(poll: "p\(i - 2)", voter: "v\(i - 1)")
    default: return .pollClosed(poll: "p\(i - 3)")
    }
}

func sampleBodies(_ range: Range<Int>) -> [EventBody] { range.map(sampleBody) }

/// The record bytes (frame + payload) of one event.
func frame(_ event: Event) -> [UInt8] {
    var bytes: [UInt8] = []
    RecordFrame.append(event, to: &bytes)
    return bytes
}

/// A hand-made segment file: header for `firstSeq` then the records of `events`; also returns
/// each record's start offset.
func makeSegment(firstSeq: UInt64, events: [Event]) -> (bytes: [UInt8], offsets: [Int64]) {
    var bytes = LogFileHeader(firstSeq: firstSeq).encoded
    var offsets: [Int64] = []
    for event in events {
        offsets.append(Int64(bytes.count))
        RecordFrame.append(event, to: &bytes)
    }
    return (bytes, offsets)
}

/// Events with seqs `seqs` and bodies `sampleBody(seq)`.
func makeEvents(_ seqs: ClosedRange<UInt64>) -> [Event] {
    seqs.map { Event(seq: $0, timestampMs: 1_700_000_000_000 + Int64($0), body: sampleBody(Int($0))) }
}

// MARK: - Files

func readFileBytes(_ path: String) throws -> [UInt8] {
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { fd.close() }
    return try fd.readToEnd()
}

func writeFileBytes(_ path: String, _ bytes: [UInt8]) throws {
    let fd = try FileDescriptor.open(path, [.writeOnly, .create])
    defer { fd.close() }
    try fd.truncate(to: 0)
    try fd.writeAll(bytes)
}

func fileSize(_ path: String) throws -> Int64 {
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { fd.close() }
    return try fd.size()
}

/// The length of a segment file without the zeros the writer keeps after its records while it
/// runs (in these tests, no record ends with a zero byte).
func recordsLength(_ path: String) throws -> Int64 {
    let bytes = try readFileBytes(path)
    return Int64(bytes.count - bytes.reversed().prefix { $0 == 0 }.count)
}

/// Copies every segment file of `from` into the (new) folder `to`.
func copySegments(from: String, to: String) throws {
    try FileSystem.createDirectory(to)
    for segment in try LogDirectory(path: from).segments() {
        let name = String(segment.path.split(separator: "/").last!)
        try writeFileBytes(to + "/" + name, try readFileBytes(segment.path))
    }
}

// MARK: - Checking what concurrent appenders wrote

/// The events of threads that each appended `VOTE <thread> v0, v1, …` (poll = the thread's name,
/// voter = `v` + its index): each vote is there exactly once, each thread's in its order, `total` in all.
func expectEachThreadsVotesOnceInOrder(_ events: [Event], total: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    var seen = Set<String>()
    var nextIndex = [String: Int]()
    for event in events {
        guard case .voteCast(let poll, let voter, _) = event.body else {
            Issue.record("unexpected body \(event.body)", sourceLocation: sourceLocation)
            continue
        }
        #expect(seen.insert(poll + "/" + voter).inserted, "duplicate \(poll)/\(voter)", sourceLocation: sourceLocation)
        let index = Int(voter.dropFirst()) ?? -1
        #expect(index == nextIndex[poll, default: 0], "thread \(poll) out of order at seq \(event.seq)", sourceLocation: sourceLocation)
        nextIndex[poll] = index + 1
    }
    #expect(seen.count == total, sourceLocation: sourceLocation)
}

// MARK: - Observer

/// Records what the writer tells it.
final class RecordingObserver: DurabilityObserver {
    struct State {
        var durable: [UInt64] = []
        var failures: [(failure: LogFailure, lastDurableSeq: UInt64)] = []
        /// Durability reports that arrived after a failure report.
        var durableAfterFailure = 0
    }

    let state = Mutex(State())

    func logIsDurable(upTo seq: UInt64) {
        state.withLock { state in
            state.durable.append(seq)
            if !state.failures.isEmpty { state.durableAfterFailure += 1 }
        }
    }

    func logFailed(_ failure: LogFailure, lastDurableSeq: UInt64) {
        state.withLock { $0.failures.append((failure, lastDurableSeq)) }
    }

    var maxDurable: UInt64 { state.withLock { $0.durable.max() ?? 0 } }
    var durableReports: [UInt64] { state.withLock { $0.durable } }
    var failure: (failure: LogFailure, lastDurableSeq: UInt64)? { state.withLock { $0.failures.first } }
    var failureCount: Int { state.withLock { $0.failures.count } }
    var durableAfterFailure: Int { state.withLock { $0.durableAfterFailure } }
}

// MARK: - Waiting (for progress, never as an assertion about speed)

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
@discardableResult
func waitUntil(seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(200)
    }
    return true
}

// MARK: - Opening and closing

/// An opened, started log.
struct LogSession {
    var opened: EventLog.Opened
    var observer: RecordingObserver
    var events: [Event]

    var writer: LogWriter { opened.writer }
    var recovery: EventLog.Recovery { opened.recovery }

    /// Closes the writer (drain, sync, stop) and releases the folder lock.
    func close() {
        opened.writer.close()
        opened.lock.close()
    }

    /// Appends `bodies` and waits until the writer reports them durable (or the log fails).
    @discardableResult
    func appendAndWait(_ bodies: [EventBody]) -> Result<LogWriter.Receipt, LogFailure> {
        let result = writer.append(bodies)
        if case .success(let receipt) = result {
            let last = receipt.firstSeq + UInt64(bodies.count) - 1
            waitUntil { observer.maxDurable >= last || observer.failureCount > 0 }
        }
        return result
    }
}

/// Opens the log in `path`, collecting every recovered event, and starts the writer.
func openSession(_ path: String, options: EventLog.Options = EventLog.Options(fsync: .never)) throws(LogError) -> LogSession {
    var events: [Event] = []
    let opened = try EventLog.open(LogDirectory(path: path), options: options) { event, _ throws(LogError) in events.append(event) }
    let observer = RecordingObserver()
    opened.writer.start(observer: observer)
    return LogSession(opened: opened, observer: observer, events: events)
}

/// Opens, collects the events and closes again.
func reopenEvents(_ path: String) throws(LogError) -> (events: [Event], recovery: EventLog.Recovery) {
    let session = try openSession(path)
    session.close()
    return (session.events, session.recovery)
}

/// The error `EventLog.open` throws for `path`, or nil when it opens (it is closed again).
func openError(_ path: String) -> LogError? {
    do throws(LogError) {
        let session = try openSession(path)
        session.close()
        return nil
    } catch {
        return error
    }
}

/// The error a full `LogScanner.scan` throws, or nil.
func scanError(_ path: String) -> LogError? {
    do throws(LogError) {
        _ = try LogScanner(directory: LogDirectory(path: path)).scan { _, _ in }
        return nil
    } catch {
        return error
    }
}

/// Every event of a full scan with where it sits.
func scanAll(_ path: String, fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, mapsFiles: Bool = false)
    throws(LogError) -> (events: [Event], locations: [LogScanner.Location], summary: LogScanner.Summary) {
    var events: [Event] = []
    var locations: [LogScanner.Location] = []
    let summary = try LogScanner(directory: LogDirectory(path: path), mapsFiles: mapsFiles).scan(fromSeq: fromSeq, throughSeq: throughSeq) { event, location throws(LogError) in
        events.append(event)
        locations.append(location)
    }
    return (events, locations, summary)
}

/// Writes `batches` through a real writer in `path` (each waited for), then closes. Returns the receipts.
@discardableResult
func writeLog(_ path: String, batches: [[EventBody]], options: EventLog.Options = EventLog.Options(fsync: .never)) throws -> [LogWriter.Receipt] {
    let session = try openSession(path, options: options)
    var receipts: [LogWriter.Receipt] = []
    for batch in batches {
        receipts.append(try session.appendAndWait(batch).get())
    }
    session.close()
    return receipts
}

/// The offset and reason of a `.corruptRecord`, or nil for any other error.
func corruptRecordInfo(_ error: LogError?) -> (path: String, offset: Int64)? {
    if case .corruptRecord(let path, let offset, _) = error { return (path, offset) }
    return nil
}
