#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Equality of two ids' bytes, inline for the short ids polls, options and voters have: replay
/// compares ids tens of millions of times, and a call to `memcmp` for two or seven bytes cost
/// more than the comparison (8% of the scanning thread's samples).
enum IDBytes {
    /// Whether the `count` bytes at `a` and at `b` are the same. Reads only those bytes: ids of 4
    /// to 16 bytes are compared as two loads from each end, which overlap when shorter than that.
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        switch count {
        case 8...16:
            return a.loadUnaligned(as: UInt64.self) == b.loadUnaligned(as: UInt64.self)
                && a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        case 4..<8:
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        case 1..<4:
            for offset in 0..<count where a.load(fromByteOffset: offset, as: UInt8.self) != b.load(fromByteOffset: offset, as: UInt8.self) {
                return false
            }
            return true
        case ..<1:
            return true
        default:
            return memcmp(a, b, count) == 0
        }
    }
}
