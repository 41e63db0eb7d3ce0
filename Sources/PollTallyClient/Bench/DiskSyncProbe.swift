#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Measures the disk the way an append-only log uses it: append 64 bytes, fdatasync, repeat; so a
/// server's single-connection latency can be compared with the disk's in the same run.
public struct DiskSyncProbe: Sendable {
    public let iterations: Int
    public let directory: String
    public let latency: LatencyHistogram

    /// Appends and syncs `iterations` times in a scratch file in `directory`, removed afterwards.
    public static func measure(iterations: Int, directory: String) throws(ClientError) -> DiskSyncProbe {
        let path = directory + "/polltally-disk-sync-\(getpid()).tmp"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("open \(path)") }
        defer {
            close(fd)
            unlink(path)
        }
        var record = [UInt8](repeating: UInt8(ascii: "x"), count: 64)
        record[63] = 0x0A
        var latency = LatencyHistogram()
        for _ in 0..<iterations {
            let start = MonotonicClock.nanoseconds()
            let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == record.count else { throw .system("write \(path)") }
            guard fdatasync(fd) == 0 else { throw .system("fdatasync \(path)") }
            latency.record(MonotonicClock.nanoseconds() - start)
        }
        return DiskSyncProbe(iterations: iterations, directory: directory, latency: latency)
    }

    /// `DISKSYNC dir=… iterations=… p50_us=… p99_us=… max_us=…`: one line for people and scripts.
    public var line: String {
        let micros = { (ns: UInt64) in BenchReport.micros(ns) }
        return "DISKSYNC dir=\(directory) iterations=\(iterations) bytes=64 p50_us=\(micros(latency.percentile(0.5))) p99_us=\(micros(latency.percentile(0.99))) max_us=\(micros(latency.max))"
    }
}
