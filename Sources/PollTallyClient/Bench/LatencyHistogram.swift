/// Latencies in nanoseconds, counted in log-linear buckets: exact below 128 ns, then 64 buckets per
/// power of two, so a percentile is within 1.6% of the true value. Fixed size, cheap to record and
/// to merge across connections.
public struct LatencyHistogram: Sendable {
    private static let subBits = 6
    private static let subCount = 1 << subBits
    private var buckets: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var max: UInt64 = 0

    public init() {
        buckets = Array(repeating: 0, count: (64 - Self.subBits + 1) << Self.subBits)
    }

    @inline(__always)
    public mutating func record(_ nanoseconds: UInt64) {
        buckets[Self.index(nanoseconds)] &+= 1
        count &+= 1
        if nanoseconds > max { max = nanoseconds }
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for index in buckets.indices { buckets[index] &+= other.buckets[index] }
        count &+= other.count
        max = Swift.max(max, other.max)
    }

    /// The value at quantile `q` (0…1): the top of the bucket holding that rank, never above `max`.
    public func percentile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, n) in buckets.enumerated() where n > 0 {
            seen += n
            if seen >= rank { return Swift.min(Self.upperBound(index), max) }
        }
        return max
    }

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < UInt64(2 * subCount) { return Int(value) }
        let shift = (63 - value.leadingZeroBitCount) - subBits
        return (shift << subBits) + Int(value >> UInt64(shift))
    }

    /// The largest value that lands in bucket `index`.
    static func upperBound(_ index: Int) -> UInt64 {
        if index < 2 * subCount { return UInt64(index) }
        let shift = index / subCount - 1
        let mantissa = UInt64(index % subCount + subCount)
        return ((mantissa + 1) << UInt64(shift)) &- 1  // wraps to UInt64.max for the top bucket
    }
}
