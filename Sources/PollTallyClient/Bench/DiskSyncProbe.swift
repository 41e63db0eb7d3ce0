#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Measures the disk the way a log uses it: write 64 bytes, fdatasync, repeat; so a server's
/// single-connection latency can be compared with the disk's in the same run.
public struct DiskSyncProbe: Sendable {
    /// Where each write goes.
    public enum Mode: String, Sendable, CaseIterable {
        /// At the end of the file, which grows: ext4 commits its journal on every sync.
        case append
        /// Into zeros written and synced before the first timed write, as PollTally's log writes
        /// (DURABILITY.md, "Zeros after the records"): each sync flushes the data alone.
        case overwrite
    }

    public let iterations: Int
    public let directory: String
    public let mode: Mode
    public let latency: LatencyHistogram

    static let recordSize = 64

    /// Writes and syncs `iterations` times in a scratch file in `directory`, removed afterwards.
    public static func measure(iterations: Int, directory: String, mode: Mode = .append) throws(ClientError) -> DiskSyncProbe {
        let path = directory + "/polltally-disk-sync-\(getpid()).tmp"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("open \(path)") }
        defer {
            close(fd)
            unlink(path)
        }
        if mode == .overwrite { try writeZeros(fd, bytes: iterations * recordSize, path: path) }
        var record = [UInt8](repeating: UInt8(ascii: "x"), count: recordSize)
        record[recordSize - 1] = 0x0A
        var latency = LatencyHistogram()
        for index in 0..<iterations {
            let start = MonotonicClock.nanoseconds()
            let offset = off_t(index * recordSize)
            let written = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, offset) }
            guard written == record.count else { throw .system("write \(path)") }
            guard fdatasync(fd) == 0 else { throw .system("fdatasync \(path)") }
            latency.record(MonotonicClock.nanoseconds() - start)
        }
        return DiskSyncProbe(iterations: iterations, directory: directory, mode: mode, latency: latency)
    }

    /// Fills the file with `bytes` zeros (to a 4 KiB boundary) and syncs it, untimed.
    private static func writeZeros(_ fd: CInt, bytes: Int, path: String) throws(ClientError) {
        let total = (bytes + 4095) / 4096 * 4096
        let chunk = [UInt8](repeating: 0, count: min(total, 1 << 20))
        var done = 0
        while done < total {
            let n = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, min($0.count, total - done), off_t(done)) }
            guard n > 0 else { throw .system("write \(path)") }
            done += n
        }
        guard fsync(fd) == 0 else { throw .system("fsync \(path)") }
    }

    /// `DISKSYNC dir=… mode=… iterations=… bytes=64 p50_us=… p99_us=… max_us=…`: one line for
    /// people and scripts.
    public var line: String {
        let micros = { (ns: UInt64) in BenchReport.micros(ns) }
        return "DISKSYNC dir=\(directory) mode=\(mode.rawValue) iterations=\(iterations) bytes=\(Self.recordSize) p50_us=\(micros(latency.percentile(0.5))) p99_us=\(micros(latency.percentile(0.99))) max_us=\(micros(latency.max))"
    }
}
