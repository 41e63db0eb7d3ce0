import Dispatch
public import PollTallyCore

/// Applies the log to a set of projections, each owning the polls `PollPartition` gives it, all
/// of them at once on as many threads as there are cores: what `replay`, `verify` and a server's
/// recovery do with the log.
///
/// The scanner verifies each record's checksum and seq in log order on the calling thread; each
/// batch of records is then split by projection and every projection applies its share in log
/// order, straight from the payload bytes (`Projection.apply(record:)`). A poll's events all go
/// to one projection, so each poll sees its events in log order, as the server applied them.
public struct LogReplayer: Sendable {
    public let directory: LogDirectory
    /// Records per batch; smaller only in tests.
    var batchSize = 65_536
    /// Whether the scanner maps segments instead of reading them (`LogScanner.mapsFiles`): only
    /// for a caller holding the folder's lock.
    let mapsFiles: Bool

    public init(directory: LogDirectory, mapsFiles: Bool = false) {
        self.directory = directory
        self.mapsFiles = mapsFiles
    }

    /// Applies every event with seq in `fromSeq...throughSeq` to the projection that owns its poll.
    /// With `unlessCovered`, events a projection restored from a snapshot already holds are skipped.
    /// `progress` hears, after each batch, how many events were read so far and where.
    ///
    /// Throws the scanner's errors, and for an event that does not decode or does not apply,
    /// `.corruptRecord` or `.invalidEvent` at that record; when several projections fail in one
    /// batch, the earliest event's failure is thrown. After a throw the projections hold an
    /// unspecified part of the log and should be dropped.
    public func replay(
        into projections: inout [Projection], fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, unlessCovered: Bool = false,
        progress: (Int, LogScanner.Location) -> Void = { _, _ in }
    ) throws(LogError) -> LogScanner.Summary {
        let count = max(projections.count, 1)
        if projections.isEmpty { projections = [Projection()] }
        // Each projection's share of the current batch: indices into its records.
        var lanes = [[Int32]](repeating: [], count: count)
        var failures = [Failure?](repeating: nil, count: count)
        var events = 0
        return try LogScanner(directory: directory, mapsFiles: mapsFiles).scanRecords(fromSeq: fromSeq, throughSeq: throughSeq, batchSize: batchSize) { batch throws(LogError) in
            for lane in lanes.indices { lanes[lane].removeAll(keepingCapacity: true) }
            for (index, record) in batch.records.enumerated() {
                lanes[PollPartition.index(ofRecord: batch.payload(of: record), count: count)].append(Int32(index))
            }
            projections.withUnsafeMutableBufferPointer { projections in
                failures.withUnsafeMutableBufferPointer { failures in
                    lanes.withUnsafeBufferPointer { lanes in
                        let work = Work(batch: batch, lanes: lanes, projections: projections, failures: failures, unlessCovered: unlessCovered)
                        if count == 1 { work.apply(lane: 0) } else { DispatchQueue.concurrentPerform(iterations: count) { work.apply(lane: $0) } }
                    }
                }
            }
            if let first = failures.compactMap({ $0 }).min(by: { $0.record.seq < $1.record.seq }) {
                let offset = Int64(first.record.offset)
                switch first.failure {
                case .undecodable(let error):
                    throw .corruptRecord(path: batch.path, offset: offset, reason: error.description)
                case .rule(let rule):
                    throw .invalidEvent(path: batch.path, offset: offset, seq: first.record.seq, reason: "\(rule)")
                }
            }
            events += batch.records.count
            if let last = batch.records.last { progress(events, LogScanner.Location(path: batch.path, offset: Int64(last.offset))) }
        }
    }

    /// The first record a projection could not apply.
    private struct Failure {
        var record: RecordBatch.Record
        var failure: Projection.RecordFailure
    }

    /// One batch's work, shared by the threads of `concurrentPerform`. `@unchecked Sendable`:
    /// lane `i` reads the batch and its lane and writes only `projections[i]` and `failures[i]`,
    /// and all of them outlive the `concurrentPerform` call that runs the lanes.
    private struct Work: @unchecked Sendable {
        let batch: RecordBatch
        let lanes: UnsafeBufferPointer<[Int32]>
        let projections: UnsafeMutableBufferPointer<Projection>
        let failures: UnsafeMutableBufferPointer<Failure?>
        let unlessCovered: Bool

        /// How many records ahead a lane prepares (and so prefetches), and the ring that holds them.
        static let prepareDistance = 8
        static let ringSize = 16

        /// Applies lane `lane`'s records in order, stopping at the first that fails. Each record is
        /// prepared `prepareDistance` records before it is applied: the ballot tables are far
        /// larger than the cache, and this overlaps their misses.
        func apply(lane: Int) {
            let indices = lanes[lane]
            var ring = [PreparedRecord](repeating: .readInFull, count: Self.ringSize)
            ring.withUnsafeMutableBufferPointer { ring in
                let mask = Self.ringSize - 1
                for position in 0..<min(Self.prepareDistance, indices.count) {
                    ring[position] = projections[lane].prepare(record: batch.payload(of: batch.records[Int(indices[position])]))
                }
                for (position, index) in indices.enumerated() {
                    let ahead = position + Self.prepareDistance
                    if ahead < indices.count {
                        ring[ahead & mask] = projections[lane].prepare(record: batch.payload(of: batch.records[Int(indices[ahead])]))
                    }
                    let record = batch.records[Int(index)]
                    do throws(Projection.RecordFailure) {
                        try projections[lane].apply(record: batch.payload(of: record), prepared: ring[position & mask], unlessCovered: unlessCovered)
                    } catch {
                        failures[lane] = Failure(record: record, failure: error)
                        return
                    }
                }
            }
        }
    }
}
