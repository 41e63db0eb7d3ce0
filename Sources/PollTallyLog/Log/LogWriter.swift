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
/// the whole buffer, writes it with one `pwrite` and, under `--fsync always`, one `fdatasync`, then
/// tells the `DurabilityObserver`. While it syncs, the next batch accumulates. The batch goes into
/// zeros written ahead of the records (`SegmentCursor.reservedLength`), so that the sync does not grow the file
/// and costs the data's flush alone (about a third less on ext4). When it is idle it also takes
/// small jobs (`runOnIdleWriter`: a shard's drain for a lone client) and runs them before its
/// next write, so one thread wake-up both decides and syncs a vote.
///
/// Under `interval` and `never`, where a write to the OS is all an acknowledgement waits for, the
/// server lets the appending threads write instead (`start(observer:appendersWrite:)`): an appender
/// calls `writePending` after its appends and the whole pending buffer goes out on its own thread,
/// with no wake-up of the writer thread and back (two thread switches per batch, which on this VM
/// cost more than the `write` itself). The writer thread then only syncs, every interval, and
/// finishes at `close`. Writes of both kinds take `writing`, so batches reach the file in seq order.
///
/// After any failed write or fdatasync the writer stops for good: `append` returns the failure and
/// nothing is retried as if it were safe. (The zeros ahead are the exception: failing to write
/// them costs only their room, and is counted in `Counters.zeroWritesFailed`.)
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
        /// Writes of the zeros ahead that failed (a disk too full for them): the log goes on
        /// without them, and its syncs cost more until a later one succeeds.
        public var zeroWritesFailed: UInt64 = 0
        public var failure: LogFailure?
    }

    private struct State {
        var buffer: [UInt8] = []
        var bufferFirstSeq: UInt64
        var nextSeq: UInt64
        var failure: LogFailure?
        var writerWaiting = false
        /// Work handed to the idle writer thread (`runOnIdleWriter`), not yet taken.
        var jobs: [@Sendable () -> Void] = []
        var closing = false
        var counters: Counters
    }

    /// The file side, under `writing` (which also guards `segment`): unsynced writes, the last
    /// sync, and whether the segment is closed for good.
    private struct FileSide {
        var unsynced = false
        var lastSync = DispatchTime.now()
        /// Set by the writer thread as it closes the segment; later `writePending` calls do nothing.
        var finished = false
    }

    public let policy: FsyncPolicy
    public let segmentSize: Int64
    private let directory: LogDirectory
    private let io: any LogFileIO
    private let state: Mutex<State>
    /// Held for each write (and sync) of the file: by the writer thread, or by an appender in
    /// `writePending`. Never held while calling the observer or taking `state` for long.
    private let writing = Mutex(FileSide())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Used only under `writing`.
    private let segment: SegmentCursor
    private let observerBox = Mutex<(any DurabilityObserver)?>(nil)
    private let inlineWrites = Atomic<Bool>(false)

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

    /// Starts the writer thread; `observer` hears about durability from then on. With
    /// `appendersWrite` (honoured under `interval` and `never` only), appends do not wake the
    /// writer: the appender calls `writePending` itself.
    public func start(observer: any DurabilityObserver, appendersWrite: Bool = false) {
        inlineWrites.store(appendersWrite && policy != .always, ordering: .releasing)
        observerBox.withLock { $0 = observer }
        let thread = Thread { [self] in self.run(observer: observer) }
        thread.name = "polltally-log-writer"
        thread.start()
    }

    /// Appends the events of `bodies`, in order, with consecutive seqs. Returns at once; the events
    /// are durable when the observer says so.
    public func append<C: Collection>(_ bodies: C) -> Result<Receipt, LogFailure> where C.Element == EventBody {
        append(count: bodies.count) { seq, now, buffer in
            var seq = seq
            for body in bodies {
                RecordFrame.append(Event(seq: seq, timestampMs: now, body: body), to: &buffer)
                seq += 1
            }
        }
    }

    /// Appends one event: what a shard does for each command. Not generic, so that a call from
    /// another module runs specialized code (the generic one looked up type metadata on every vote).
    public func append(_ body: EventBody) -> Result<Receipt, LogFailure> {
        append(count: 1) { seq, now, buffer in
            RecordFrame.append(Event(seq: seq, timestampMs: now, body: body), to: &buffer)
        }
    }

    /// Appends one `voteCast` given by its ids' bytes: a shard's `VOTE` path (`VoteLine`), where
    /// the ids are never made into `String`s. The record is the one `append(_:)` writes for the
    /// same vote.
    public func appendVote(poll: UnsafeRawBufferPointer, voter: UnsafeRawBufferPointer, option: UnsafeRawBufferPointer) -> Result<Receipt, LogFailure> {
        append(count: 1) { seq, now, buffer in
            RecordFrame.appendVote(seq: seq, timestampMs: now, poll: poll, voter: voter, option: option, to: &buffer)
        }
    }

    /// Stamps `count` seqs and the time under the lock, and lets `encode` frame the events from
    /// the first seq on into the pending buffer.
    private func append(count: Int, encode: (_ firstSeq: UInt64, _ now: Int64, _ buffer: inout [UInt8]) -> Void) -> Result<Receipt, LogFailure> {
        let (result, signal): (Result<Receipt, LogFailure>, Bool) = state.withLock { state in
            // Read the clock under the lock, so time never goes backwards as seq goes forwards.
            let now = Self.wallClockMs()
            if let failure = state.failure { return (.failure(failure), false) }
            if state.closing {
                return (.failure(LogFailure(operation: "append", errno: Errno(rawValue: ESHUTDOWN), path: directory.path)), false)
            }
            let first = state.nextSeq
            if state.buffer.isEmpty { state.bufferFirstSeq = first }
            encode(first, now, &state.buffer)
            state.nextSeq += UInt64(count)
            state.counters.appendedSeq = state.nextSeq - 1
            guard !inlineWrites.load(ordering: .relaxed) else { return (.success(Receipt(firstSeq: first, timestampMs: now)), false) }
            let signal = state.writerWaiting
            state.writerWaiting = false
            return (.success(Receipt(firstSeq: first, timestampMs: now)), signal)
        }
        if signal { wake.signal() }
        return result
    }

    /// Under `--fsync always`, when the writer thread is idle (or already woken for such work):
    /// runs `work` on it before its next write, and returns true. Otherwise returns false and
    /// `work` is not run.
    ///
    /// For a shard that would otherwise wake a thread of its own to decide a lone client's vote,
    /// and then wake the writer to sync it: here one wake-up does both, which is what a single
    /// connection's latency is made of. Under load the writer is seldom idle and nothing changes.
    /// `work` may append (it runs with no lock held) and must not wait for the writer.
    public func runOnIdleWriter(_ work: @escaping @Sendable () -> Void) -> Bool {
        guard policy == .always else { return false }
        let signal: Bool? = state.withLock { state in
            guard state.failure == nil, !state.closing, state.writerWaiting || !state.jobs.isEmpty else { return nil }
            state.jobs.append(work)
            defer { state.writerWaiting = false }
            return state.writerWaiting
        }
        guard let signal else { return false }
        if signal { wake.signal() }
        return true
    }

    /// Whether appenders write the log themselves (`writePending`); fixed at `start`.
    public var appendersWrite: Bool { inlineWrites.load(ordering: .acquiring) }

    /// With `appendersWrite`: writes everything appended so far, by any thread, on the calling
    /// thread, and returns how far the log is durable now (every event this thread appended
    /// before the call is then covered, unless the log failed). Waits while another thread writes.
    /// The observer hears `logWritten(upTo:)`: the caller catches up its own state itself.
    @discardableResult
    public func writePending() -> UInt64 {
        guard appendersWrite else { return counters.durableSeq }
        var failed: (failure: LogFailure, lastDurableSeq: UInt64)?
        var wakeWriter = false
        let written: UInt64? = writing.withLock { file in
            guard !file.finished else { return nil }
            let (batch, firstSeq, lastSeq, _) = takeBatch(markWaiting: false)
            guard !batch.isEmpty else { return nil }
            do throws(LogFailure) {
                try write(batch, firstSeq: firstSeq)
            } catch {
                // Recorded before `writing` is let go: no later batch may be written after a hole.
                failed = markFailed(error)
                return nil
            }
            // The first unsynced write of an interval wakes the writer to sync it in time.
            wakeWriter = !file.unsynced
            file.unsynced = true
            count(wrote: batch.count, synced: false, durableUpTo: lastSeq)
            return lastSeq
        }
        let observer = observerBox.withLock { $0 }
        if let failed, let observer { observer.logFailed(failed.failure, lastDurableSeq: failed.lastDurableSeq) }
        if failed != nil { wake.signal() }
        if let written, let observer { observer.logWritten(upTo: written) }
        if wakeWriter { wake.signal() }
        return counters.durableSeq
    }

    /// A copy of the counters.
    public var counters: Counters { state.withLock { $0.counters } }

    /// The writer thread found nothing to write and waits to be woken (for tests that need it idle).
    var writerIsWaiting: Bool { state.withLock { $0.writerWaiting } }

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
        writing.withLock { $0.lastSync = .now() }
        while true {
            runJobs()
            var failure: (failure: LogFailure, lastDurableSeq: UInt64)?
            let step: (acknowledged: UInt64?, wroteNothing: Bool, finished: Bool, unsynced: Bool, lastSync: DispatchTime)
            step = writing.withLock { file in
                // After a failure (possibly an appender's) nothing is written or synced again.
                if failureRecorded { return (nil, true, false, false, file.lastSync) }
                let (batch, firstSeq, lastSeq, closing) = takeBatch(markWaiting: true)
                if !batch.isEmpty {
                    do throws(LogFailure) {
                        try write(batch, firstSeq: firstSeq)
                        file.unsynced = true
                    } catch {
                        failure = markFailed(error)
                        return (nil, false, false, false, file.lastSync)
                    }
                }
                let syncNow: Bool
                switch policy {
                case .always: syncNow = file.unsynced
                case .never: syncNow = closing && file.unsynced
                case .interval(let ms):
                    syncNow = file.unsynced && (closing || DispatchTime.now().uptimeNanoseconds >= file.lastSync.uptimeNanoseconds + UInt64(ms) * 1_000_000)
                }
                if syncNow {
                    do throws(Errno) {
                        try io.dataSync(segment.fd)
                    } catch {
                        failure = markFailed(LogFailure(operation: "fdatasync", errno: error, path: segment.path))
                        return (nil, false, false, false, file.lastSync)
                    }
                    file.lastSync = .now()
                    file.unsynced = false
                }
                // Under `always` an event is acknowledged once synced; otherwise once written.
                let acknowledged: UInt64? = batch.isEmpty || (policy == .always && file.unsynced) ? nil : lastSeq
                if !batch.isEmpty || syncNow { count(wrote: batch.count, synced: syncNow, durableUpTo: acknowledged) }
                let finished = closing && batch.isEmpty && !file.unsynced
                if finished { file.finished = true }
                return (acknowledged, batch.isEmpty, finished, file.unsynced, file.lastSync)
            }
            if let failure {
                observer.logFailed(failure.failure, lastDurableSeq: failure.lastDurableSeq)
                break
            }
            if let acknowledged = step.acknowledged { observer.logIsDurable(upTo: acknowledged) }
            if step.finished {
                segment.dropZeros()
                segment.fd.close()
                stopped.signal()
                return
            }
            if failureRecorded { break }
            if step.wroteNothing { waitForWork(unsynced: step.unsynced, lastSync: step.lastSync) }
        }
        // After a failure (here or in an appender's write): park until close(), so callers see one
        // consistent life cycle, then close the segment.
        while !state.withLock({ $0.closing }) {
            // A job handed over just before the failure still runs: its appends fail and say so.
            runJobs()
            _ = wake.wait(timeout: .now() + .milliseconds(100))
        }
        runJobs()
        writing.withLock { $0.finished = true }
        segment.fd.close()
        stopped.signal()
    }

    private var failureRecorded: Bool { state.withLock { $0.failure != nil } }

    /// Runs the work handed over by `runOnIdleWriter`, with no lock held.
    private func runJobs() {
        for job in state.withLock({ state in defer { state.jobs = [] }; return state.jobs }) { job() }
    }

    /// Counts a write of `bytes` (0: none) and a sync for `STATS`, and moves the durable seq.
    private func count(wrote bytes: Int, synced: Bool, durableUpTo seq: UInt64?) {
        state.withLock { state in
            if bytes > 0 {
                state.counters.batches += 1
                state.counters.bytesWritten += UInt64(bytes)
            }
            if synced { state.counters.fsyncs += 1 }
            if let seq { state.counters.durableSeq = seq }
        }
    }

    /// Takes the pending buffer; marks the writer as waiting when there is none (only the writer
    /// thread may, since only it waits for `wake`).
    private func takeBatch(markWaiting: Bool) -> (batch: [UInt8], firstSeq: UInt64, lastSeq: UInt64, closing: Bool) {
        state.withLock { state in
            if state.buffer.isEmpty {
                if markWaiting { state.writerWaiting = !state.closing }
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
        let end = segment.size + Int64(batch.count)
        do throws(Errno) {
            try io.write(batch, to: segment.fd, at: segment.size)
        } catch {
            throw LogFailure(operation: "write", errno: error, path: segment.path)
        }
        segment.size = end
        if end > segment.length {
            // Past the zeros written ahead: write the next ones now, before this batch's sync, so
            // that the syncs after it overwrite instead of growing the file. Best effort: a disk
            // with no room for them still takes every batch that fits.
            let length = SegmentCursor.reservedLength(after: end, segmentSize: segmentSize)
            do throws(Errno) {
                if length > end { try io.writeZeros(Int(length - end), to: segment.fd, at: end) }
                segment.length = length
            } catch {
                segment.length = end
                state.withLock { $0.counters.zeroWritesFailed += 1 }
            }
        }
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
        segment.dropZeros()
        segment.fd.close()
        segment.replace(with: next)
    }

    /// Stops the log for good, once: appends fail from now on and what was pending is dropped.
    /// Called under `writing`, so that no other batch reaches the file after the failed one.
    /// Returns what the observer must hear (outside the locks), or nil if a failure was recorded before.
    private func markFailed(_ failure: LogFailure) -> (failure: LogFailure, lastDurableSeq: UInt64)? {
        state.withLock { state in
            guard state.failure == nil else { return nil }
            state.failure = failure
            state.counters.failure = failure
            state.buffer = []
            return (failure, state.counters.durableSeq)
        }
    }

    static func wallClockMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
