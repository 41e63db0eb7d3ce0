import Dispatch
import PollTallyCore
import PollTallyLog

/// Rebuilding the projections at start: lock the folder, load the newest usable snapshot, apply
/// the log after it, and open the writer after the last event.
///
/// A snapshot is never trusted: one that is damaged or unreadable, that holds events the log does
/// not have, or that the log after it does not apply to, is reported (`warn`, and counted) and the
/// next older one is tried, down to the full log. The log after the snapshot used is read and
/// verified in full, so a corrupt record anywhere after it still stops the start; segments wholly
/// before it are not read, and the records before it in the first segment read are only hopped
/// over (the `BackgroundVerifier` checks both).
enum StartupRecovery {
    /// The rebuilt state and the opened log.
    struct Recovered {
        var projections: [Projection]
        var opened: EventLog.Opened
        /// The snapshot the state started from, if any.
        var snapshot: SnapshotStore.File?
        /// The segments not read (wholly before the snapshot), and the first one read.
        var skippedSegments: [LogDirectory.Segment]
        var firstSegmentRead: LogDirectory.Segment?
    }

    static func recover(_ config: ServerConfig, status: DurabilityStatus) throws(ServerError) -> Recovered {
        let started = DispatchTime.now()
        let directory = LogDirectory(path: config.dataPath)
        let store = SnapshotStore(path: config.dataPath)
        let lock: FileDescriptor
        do throws(LogError) { lock = try directory.createAndLock() } catch { throw .log(error) }
        do throws(ServerError) {
            store.removeTemporaryFiles()
            var candidates: [SnapshotStore.File]
            do throws(SnapshotError) { candidates = try store.files() } catch {
                config.warn("polltally: ignoring the snapshots: \(error)")
                candidates = []
            }
            // Newest first; when none is usable, the full log.
            while true {
                let candidate = candidates.popLast()
                if let recovered = try attempt(candidate, config: config, directory: directory, store: store,
                                               lock: lock, status: status, started: started) {
                    if let file = recovered.snapshot { status.snapshotSeq.store(file.seq, ordering: .relaxed) }
                    return recovered
                }
            }
        } catch {
            lock.close()
            throw error
        }
    }

    /// Rebuilds from `file` (nil: the full log); nil when that snapshot cannot be used.
    private static func attempt(
        _ file: SnapshotStore.File?, config: ServerConfig, directory: LogDirectory, store: SnapshotStore,
        lock: FileDescriptor, status: DurabilityStatus, started: DispatchTime
    ) throws(ServerError) -> Recovered? {
        let limits = Projection.Limits(maxOptions: config.maxOptions)
        var projections = Array(repeating: Projection(limits: limits), count: config.shards)
        var snapshotSeq: UInt64 = 0
        var snapshotMaxSeq: UInt64 = 0
        if let file {
            do throws(SnapshotError) {
                let snapshot = try store.load(file)
                snapshotSeq = snapshot.seq
                snapshotMaxSeq = snapshot.maxSeq
                // Consumed, so the projections are the only owners of the polls (no copy on first change).
                projections = distribute(consume snapshot, shards: config.shards, limits: limits)
            } catch {
                reject(error, config: config, status: status)
                return nil
            }
        }
        let fromSeq = snapshotSeq + 1
        let summary: LogScanner.Summary
        do throws(LogError) {
            // The shards' projections apply their polls' events in parallel (PollPartition routes as ShardRouter does);
            // the segments are mapped, not read: the folder is locked, so nothing shrinks them meanwhile.
            summary = try LogReplayer(directory: directory, mapsFiles: true).replay(into: &projections, fromSeq: fromSeq, unlessCovered: file != nil)
        } catch {
            if let file, case .invalidEvent(_, _, let seq, let reason) = error {
                reject(.disagreesWithLog(path: file.path, seq: seq, reason: reason), config: config, status: status)
                return nil
            }
            throw .log(error)
        }
        if let file, snapshotMaxSeq > summary.lastSeq {
            // Written before a power loss took the end of the log (--fsync interval or never): it
            // can never match this log again, so it goes.
            reject(.aheadOfLog(path: file.path, maxSeq: snapshotMaxSeq, logLastSeq: summary.lastSeq), config: config, status: status)
            do throws(SnapshotError) { try store.remove(file) } catch {
                config.warn("polltally: could not delete it: \(error)")
            }
            return nil
        }
        let opened: EventLog.Opened
        do throws(LogError) {
            opened = try EventLog.resume(directory, lock: lock, after: summary, snapshotSeq: snapshotSeq,
                                         options: .init(fsync: config.fsync, segmentSize: config.segmentSize, io: config.logIO),
                                         startedAt: started)
        } catch {
            throw .log(error)
        }
        var segments: [LogDirectory.Segment] = []
        // From a snapshot, the background verify needs the segments skipped and the first one read.
        if file != nil {
            do throws(LogError) { segments = try directory.segments() } catch { throw .log(error) }
        }
        let skipped = Array(segments.prefix(summary.segmentsSkipped))
        let firstRead = segments.count > summary.segmentsSkipped ? segments[summary.segmentsSkipped] : nil
        return Recovered(projections: projections, opened: opened, snapshot: file, skippedSegments: skipped, firstSegmentRead: firstRead)
    }

    private static func reject(_ error: SnapshotError, config: ServerConfig, status: DurabilityStatus) {
        if case .olderFormat = error {
            // Not damage: a snapshot written before an upgrade. The next snapshots replace it.
            config.warn("polltally: passing over snapshot: \(error); falling back to an older snapshot or the full log")
            return
        }
        status.snapshotsDamaged.add(1, ordering: .relaxed)
        config.warn("polltally: ignoring snapshot: \(error); falling back to an older snapshot or the full log")
    }

    /// One projection per shard from a snapshot's sections: each poll goes to the shard its id
    /// routes to, whatever the shard count when the snapshot was written.
    static func distribute(_ snapshot: consuming Snapshot, shards: Int, limits: Projection.Limits) -> [Projection] {
        let sections = snapshot.sections
        _ = consume snapshot
        var buckets = Array(repeating: [String: PollState](), count: shards)
        for section in sections {
            for (poll, state) in section { buckets[ShardRouter.shardIndex(of: poll, count: shards)][poll] = state }
        }
        return buckets.map { Projection(limits: limits, restoring: $0) }
    }
}
