#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Nanoseconds of CLOCK_MONOTONIC: the one clock every duration and latency of the bench uses.
public enum MonotonicClock {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
