import Dispatch
@preconcurrency import Glibc
public import PollTallyCore

/// Applies the log to a set of projections, each owning the polls `PollPartition` gives it, all
/// of them at once on as many threads as there are cores: what `replay`, `verify` and a server's
/// recovery do with the log.
///
/// Two stages run at the same time. A scanner thread verifies each record's checksum and seq in
/// log order and copies the records out a batch at a time (`ScannedBatch`, at most two ahead,
/// through `BatchHandOff`); the calling thread splits each batch by projection, and every
/// projection applies its share in log order, straight from the payload bytes
/// (`Projection.apply(record:prepared:)`). A poll's events all go to one projection, so each
/// poll sees its events in log order, as the server applied them.
public struct LogReplayer: Sendable {
    public let directory: LogDirectory
    /// Records per batch handed from the scanner to the projections; smaller only in tests.
    var batchSize = 65_536

    public init(directory: LogDirectory) {
        self.directory = directory
    }

    /// Applies every event with seq in `fromSeq...throughSeq` to the projection that owns its poll.
    /// With `unlessCovered`, events a projection restored from a snapshot already holds are skipped.
    /// `progress` hears, after each batch, how many events were applied so far and where.
    ///
    /// Throws the scanner's errors, and for an event that does not decode or does not apply,
    /// `.corruptRecord` or `.invalidEvent` at that record; when the log has several, the earliest
    /// is thrown. After a throw the projections hold an unspecified part of the log and should
    /// be dropped.
    public func replay(
        into projections: inout [Projection], fromSeq: UInt64 = 1, throughSeq: UInt64 = .max, unlessCovered: Bool = false,
        progress: (Int, LogScanner.Location) -> Void = { _, _ in }
    ) throws(LogError) -> LogScanner.Summary {
        if projections.isEmpty { projections = [Projection()] }
        let count = projections.count
        let handOff = BatchHandOff(depth: 2)
        let scanner = LogScanner(directory: directory)
        let batchSize = batchSize
        DispatchQueue.global(qos: .userInitiated).async {
            let result: Result<LogScanner.Summary, LogError>
            do throws(LogError) {
                result = .success(try scanner.scanRecords(fromSeq: fromSeq, throughSeq: throughSeq, batchSize: batchSize) { batch throws(LogError) in
                    // Only once the applier has stopped at a bad event; this error is never seen.
                    guard let free = handOff.takeFree() else { throw .io(path: batch.path, operation: "replay", Errno(rawValue: ECANCELED)) }
                    free.fill(from: batch)
                    handOff.put(.batch(free))
                })
            } catch {
                result = .failure(error)
            }
            handOff.put(.end(result))
        }
        // Each projection's share of the current batch: indices into its records.
        var lanes = [[Int32]](repeating: [], count: count)
        var failures = [Failure?](repeating: nil, count: count)
        var events = 0
        while true {
            let batch: ScannedBatch
            switch handOff.take() {
            case .end(let result):
                // Every batch before the end was applied, so damage the scan found comes after them.
                return try result.get()
            case .batch(let taken):
                batch = taken
            }
            if let failure = apply(batch, to: &projections, lanes: &lanes, failures: &failures, unlessCovered: unlessCovered) {
                handOff.cancel()
                // Wait for the scanner to stop, so nothing of this replay runs on after it returns.
                while case .batch = handOff.take() {}
                throw failure
            }
            events += batch.records.count
            if let last = batch.records.last { progress(events, LogScanner.Location(path: batch.path, offset: Int64(last.offset))) }
            handOff.recycle(batch)
        }
    }

    /// Applies one batch: splits it by projection, then every projection applies its share at the
    /// same time. Returns the earliest event's failure, if any projection failed.
    private func apply(
        _ batch: ScannedBatch, to projections: inout [Projection], lanes: inout [[Int32]], failures: inout [Failure?], unlessCovered: Bool
    ) -> LogError? {
        let count = projections.count
        for lane in lanes.indices { lanes[lane].removeAll(keepingCapacity: true) }
        for lane in failures.indices { failures[lane] = nil }
        batch.bytes.withUnsafeBytes { raw in
            batch.records.withUnsafeBufferPointer { records in
                for (index, record) in records.enumerated() {
                    lanes[PollPartition.index(ofRecord: batch.payload(of: record, in: raw), count: count)].append(Int32(index))
                }
                projections.withUnsafeMutableBufferPointer { projections in
                    failures.withUnsafeMutableBufferPointer { failures in
                        lanes.withUnsafeBufferPointer { lanes in
                            let work = Work(bytes: raw, base: batch.base, records: records, lanes: lanes, projections: projections,
                                            failures: failures, unlessCovered: unlessCovered)
                            if count == 1 { work.apply(lane: 0) } else { DispatchQueue.concurrentPerform(iterations: count) { work.apply(lane: $0) } }
                        }
                    }
                }
            }
        }
        guard let first = failures.compactMap({ $0 }).min(by: { $0.record.seq < $1.record.seq }) else { return nil }
        let offset = Int64(first.record.offset)
        switch first.failure {
        case .undecodable(let error):
            return .corruptRecord(path: batch.path, offset: offset, reason: error.description)
        case .rule(let rule):
            return .invalidEvent(path: batch.path, offset: offset, seq: first.record.seq, reason: "\(rule)")
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
        /// The batch's bytes, whose first byte is at segment offset `base`, and its records.
        let bytes: UnsafeRawBufferPointer
        let base: Int
        let records: UnsafeBufferPointer<RecordBatch.Record>
        let lanes: UnsafeBufferPointer<[Int32]>
        let projections: UnsafeMutableBufferPointer<Projection>
        let failures: UnsafeMutableBufferPointer<Failure?>
        let unlessCovered: Bool

        /// How many records ahead a lane prepares (and so prefetches), and the ring that holds them.
        static let prepareDistance = 8
        static let ringSize = 16

        @inline(__always)
        func payload(of record: RecordBatch.Record) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[(record.payload.lowerBound - base)..<(record.payload.upperBound - base)])
        }

        /// Applies lane `lane`'s records in order, stopping at the first that fails. Each record is
        /// prepared `prepareDistance` records before it is applied: the ballot tables are far
        /// larger than the cache, and this overlaps their misses.
        func apply(lane: Int) {
            let indices = lanes[lane]
            var ring = [PreparedRecord](repeating: .readInFull, count: Self.ringSize)
            ring.withUnsafeMutableBufferPointer { ring in
                let mask = Self.ringSize - 1
                for position in 0..<min(Self.prepareDistance, indices.count) {
                    ring[position] = projections[lane].prepare(record: payload(of: records[Int(indices[position])]))
                }
                for (position, index) in indices.enumerated() {
                    let ahead = position + Self.prepareDistance
                    if ahead < indices.count {
                        ring[ahead & mask] = projections[lane].prepare(record: payload(of: records[Int(indices[ahead])]))
                    }
                    let record = records[Int(index)]
                    do throws(Projection.RecordFailure) {
                        try projections[lane].apply(record: payload(of: record), prepared: ring[position & mask], unlessCovered: unlessCovered)
                    } catch {
                        failures[lane] = Failure(record: record, failure: error)
                        return
                    }
                }
            }
        }
    }
}
