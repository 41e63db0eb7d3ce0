public import Dispatch
public import PollTallyCore

/// Opening the log for a server: lock the folder, read every event back (handing each to the
/// caller to rebuild its projections), cut a torn tail, and start a `LogWriter` after the last event.
public enum EventLog {
    /// How the writer should behave.
    public struct Options: Sendable {
        public var fsync: FsyncPolicy
        public var segmentSize: Int64
        public var io: any LogFileIO

        public init(fsync: FsyncPolicy = .always, segmentSize: Int64 = 64 << 20, io: any LogFileIO = SystemLogFileIO()) {
            self.fsync = fsync
            self.segmentSize = segmentSize
            self.io = io
        }
    }

    /// What recovery found and did.
    public struct Recovery: Sendable {
        /// Events recovered: those of the snapshot (its seq) plus those read from the log after it.
        public var events: Int
        public var lastSeq: UInt64
        /// Bytes of log segments read (segments wholly before the snapshot are not read).
        public var bytesRead: Int64
        /// The torn tail that was cut off, if any.
        public var cutTail: LogScanner.TornTail?
        public var seconds: Double
        /// The seq of the snapshot the state started from; 0 when it came from the log alone.
        public var snapshotSeq: UInt64 = 0
        /// Events read from the log after the snapshot (all of them without one).
        public var logEvents: Int = 0
    }

    /// The opened log: the writer, what recovery did, and the folder lock (held while the process lives).
    public struct Opened: Sendable {
        public var writer: LogWriter
        public var recovery: Recovery
        public var lock: FileDescriptor
    }

    /// Opens the log in `directory`, creating it if needed; `visit` sees every event in order,
    /// with where it lies. Throws on any damage that is not a torn tail, naming the file and offset.
    public static func open(
        _ directory: LogDirectory, options: Options, visit: (Event, LogScanner.Location) throws(LogError) -> Void
    ) throws(LogError) -> Opened {
        let started = DispatchTime.now()
        let lock = try directory.createAndLock()
        do throws(LogError) {
            let summary = try LogScanner(directory: directory).scan(visit: visit)
            return try resume(directory, lock: lock, after: summary, options: options, startedAt: started)
        } catch {
            lock.close()
            throw error
        }
    }

    /// Starts the writer after a scan the caller made itself with the folder locked (`lock`, from
    /// `LogDirectory.createAndLock`): from a snapshot, `summary` is the scan from the snapshot's
    /// seq + 1 and `snapshotSeq` that seq. Cuts a torn tail. The caller keeps the lock on failure.
    public static func resume(
        _ directory: LogDirectory, lock: FileDescriptor, after summary: LogScanner.Summary, snapshotSeq: UInt64 = 0,
        options: Options, startedAt started: DispatchTime
    ) throws(LogError) -> Opened {
        let cursor: SegmentCursor
        if let last = summary.lastSegment, summary.tornTail?.offset != 0 {
            cursor = try SegmentCursor.reopen(last, validLength: summary.lastSegmentValidLength, keepingZeros: summary.tornTail == nil)
        } else {
            // No segment yet, or the last one lost even its header: start it (again) from its first seq.
            cursor = try SegmentCursor.create(directory: directory, firstSeq: summary.lastSeq + 1)
        }
        let writer = LogWriter(directory: directory, segment: cursor, nextSeq: summary.lastSeq + 1,
                               policy: options.fsync, segmentSize: options.segmentSize, io: options.io)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let recovery = Recovery(events: Int(snapshotSeq) + summary.events, lastSeq: summary.lastSeq, bytesRead: summary.bytesRead,
                                cutTail: summary.tornTail, seconds: seconds, snapshotSeq: snapshotSeq, logEvents: summary.events)
        return Opened(writer: writer, recovery: recovery, lock: lock)
    }
}
