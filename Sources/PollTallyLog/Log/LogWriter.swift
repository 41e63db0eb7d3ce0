import Dispatch
import Foundation
public import PollTallyCore
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The single writer of the log: group commit on a thread of its own.
///
/// Any number of threads call `append`, which stamps seq and time and encodes the records into a
/// shared buffer under a `Mutex` (a lock, not an actor: appends are ~200 ns and must return the
/// seq synchronously to the projection actor that validated the command). The writer thread takes
/// the whole buffer, writes it with one `write` and, under `--fsync always`, one `fdatasync`, then
/// tells the `DurabilityObserver`. While it syncs, the next batch accumulates.
///
/// After any failed write or fdatasync the writer stops for good: `append` returns the failure and
/// nothing is retried as if it were safe.
public final class LogWriter: Sendable {
    /// A successful append: the seq of the first event of the batch (the rest follow without gaps)
    /// and the time stamped on all of them.
    public struct Receipt: Sendable, Equatable {
        public var firstSeq: UInt64
        public var timestampMs: Int64
    }

    /// Counters for `STATS`.
    public struct Counters: Sendable {
        public var durableSeq: UInt64
        public var appendedSeq: UInt64
        public var fsyncs: UInt64
        public var batches: UInt64
        public var bytesWritten: UInt64
        public var failure: LogFailure?
    }

    private struct State {
        var buffer: [UInt8] = []
        var bufferFirstSeq: UInt64
        var nextSeq: UInt64
        var failure: LogFailure?
        var writerWaiting = false
        var closing = false
        var counters: Counters
    }

    public let policy: FsyncPolicy
    public let segmentSize: Int64
    private let directory: LogDirectory
    private let io: any LogFileIO
    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Confined to the writer thread once `start` has run.
    private let segment: SegmentCursor

    /// Takes over an open segment positioned at its end; `nextSeq` is the seq the next event gets.
    init(directory: LogDirectory, segment: SegmentCursor, nextSeq: UInt64, policy: FsyncPolicy, segmentSize: Int64, io: any LogFileIO) {
        self.directory = directory
        self.segment = segment
        self.policy = policy
        self.segmentSize = segmentSize
        self.io = io
        let counters = Counters(durableSeq: nextSeq - 1, appendedSeq: nextSeq - 1, fsyncs: 0, batches: 0, bytesWritten: 0)
        self.state = Mutex(State(bufferFirstSeq: nextSeq, nextSeq: nextSeq, counters: counters))
    }

    /// Starts the writer thread; `observer` hears about durability from then on.
    public func start(observer: any DurabilityObserver) {
        let thread = Thread { [self] in self.run(observer: observer) }
        thread.name = "polltally-log-writer"
        thread.start()
    }

    /// Appends the events of `bodies`, in order, with consecutive seqs. Returns at once; the events
    /// are durable when the observer says so.
    public func append<C: Collection>(_ bodies: C) -> Result<Receipt, LogFailure> where C.Element == EventBody {
        let (result, signal): (Result<Receipt, LogFailure>, Bool) = state.withLock { state in
            // Read the clock under the lock, so time never goes backwards as seq goes forwards.
            let now = Self.wallClockMs()
            if let failure = state.failure { return (.failure(failure), false) }
            if state.closing {
                return (.failure(LogFailure(operation: "append", errno: Errno(rawValue: ESHUTDOWN), path: directory.path)), false)
            }
            let first = state.nextSeq
            if state.buffer.isEmpty { state.bufferFirstSeq = first }
            for body in bodies {
                RecordFrame.append(Event(seq: state.nextSeq, timestampMs: now, body: body), to: &state.buffer)
                state.nextSeq += 1
            }
            state.counters.appendedSeq = state.nextSeq - 1
            let signal = state.writerWaiting
            state.writerWaiting = false
            return (.success(Receipt(firstSeq: first, timestampMs: now)), signal)
        }
        if signal { wake.signal() }
        return result
    }

    /// A copy of the counters.
    public var counters: Counters { state.withLock { $0.counters } }

    /// Writes and syncs what is pending, stops the thread and closes the segment. Appends after this fail.
    public func close() {
        let signal: Bool = state.withLock { state in
            state.closing = true
            let signal = state.writerWaiting
            state.writerWaiting = false
            return signal
        }
        if signal { wake.signal() }
        stopped.wait()
    }

    // MARK: - The writer thread

    private func run(observer: any DurabilityObserver) {
        var lastSync = DispatchTime.now()
        var unsynced = false
        while true {
            let (batch, firstSeq, lastSeq, closing) = takeBatch()
            if !batch.isEmpty {
                do throws(LogFailure) {
                    try write(batch, firstSeq: firstSeq)
                    unsynced = true
                } catch {
                    fail(error, observer: observer)
                    break
                }
            }
            let syncNow: Bool
            switch policy {
            case .always: syncNow = unsynced
            case .never: syncNow = closing && unsynced
            case .interval(let ms):
                syncNow = unsynced && (closing || DispatchTime.now().uptimeNanoseconds >= lastSync.uptimeNanoseconds + UInt64(ms) * 1_000_000)
            }
            if syncNow {
                do throws(Errno) {
                    try io.dataSync(segment.fd)
                } catch {
                    fail(LogFailure(operation: "fdatasync", errno: error, path: segment.path), observer: observer)
                    break
                }
                lastSync = .now()
                unsynced = false
            }
            if !batch.isEmpty || syncNow {
                let acknowledged = policy == .always ? (unsynced ? nil : lastSeq) : lastSeq
                state.withLock { state in
                    if !batch.isEmpty { state.counters.batches += 1; state.counters.bytesWritten += UInt64(batch.count) }
                    if syncNow { state.counters.fsyncs += 1 }
                    if let acknowledged, !batch.isEmpty { state.counters.durableSeq = acknowledged }
                }
                if let acknowledged, !batch.isEmpty { observer.logIsDurable(upTo: acknowledged) }
            }
            if closing && batch.isEmpty && !unsynced { break }
            if batch.isEmpty { waitForWork(unsynced: unsynced, lastSync: lastSync) }
        }
        segment.fd.close()
        stopped.signal()
    }

    /// Takes the pending buffer; marks the writer as waiting when there is none.
    private func takeBatch() -> (batch: [UInt8], firstSeq: UInt64, lastSeq: UInt64, closing: Bool) {
        state.withLock { state in
            if state.buffer.isEmpty {
                state.writerWaiting = !state.closing
                return ([], 0, state.nextSeq - 1, state.closing)
            }
            var batch: [UInt8] = []
            batch.reserveCapacity(state.buffer.capacity)
            swap(&batch, &state.buffer)
            return (batch, state.bufferFirstSeq, state.nextSeq - 1, state.closing)
        }
    }

    private func waitForWork(unsynced: Bool, lastSync: DispatchTime) {
        if case .interval(let ms) = policy, unsynced {
            _ = wake.wait(timeout: lastSync + .milliseconds(ms))
        } else {
            wake.wait()
        }
    }

    private func write(_ batch: [UInt8], firstSeq: UInt64) throws(LogFailure) {
        if segment.size >= segmentSize && segment.size > Int64(LogFileHeader.size) {
            try roll(firstSeq: firstSeq)
        }
        do throws(Errno) {
            try io.write(batch, to: segment.fd)
        } catch {
            throw LogFailure(operation: "write", errno: error, path: segment.path)
        }
        segment.size += Int64(batch.count)
    }

    /// Closes the full segment (synced) and starts the next one at `firstSeq`.
    private func roll(firstSeq: UInt64) throws(LogFailure) {
        do throws(Errno) { try io.dataSync(segment.fd) } catch {
            throw LogFailure(operation: "fdatasync", errno: error, path: segment.path)
        }
        let next: SegmentCursor
        do throws(LogError) { next = try SegmentCursor.create(directory: directory, firstSeq: firstSeq) } catch {
            if case .io(let path, let operation, let errno) = error { throw LogFailure(operation: operation, errno: errno, path: path) }
            throw LogFailure(operation: "create segment", errno: .ioError, path: directory.segmentPath(firstSeq: firstSeq))
        }
        segment.fd.close()
        segment.replace(with: next)
    }

    private func fail(_ failure: LogFailure, observer: any DurabilityObserver) {
        let durable: UInt64 = state.withLock { state in
            state.failure = failure
            state.counters.failure = failure
            state.buffer = []
            return state.counters.durableSeq
        }
        observer.logFailed(failure, lastDurableSeq: durable)
        // Keep the thread parked until close() so callers see one consistent life cycle.
        while !state.withLock({ $0.closing }) { _ = wake.wait(timeout: .now() + .milliseconds(100)) }
    }

    static func wallClockMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
