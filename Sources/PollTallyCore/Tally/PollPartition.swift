/// Which of `count` projections owns a poll: an FNV-1a hash of its id, stable across runs and
/// processes, so a poll's events always meet the same projection (the server's shards, and the
/// threads of replay and recovery) and are applied in log order.
public enum PollPartition {
    /// The index of the projection that owns the poll whose id is `bytes`, for `count` projections.
    @inline(__always)
    public static func index<Bytes: Sequence>(of bytes: Bytes, count: Int) -> Int where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int(hash % UInt64(max(count, 1)))
    }

    /// `index(of:count:)` for bytes in memory, spelled out: a call from another module ran the
    /// generic version through its iterator's witnesses, ten times slower.
    @inline(__always)
    public static func index(of bytes: UnsafeRawBufferPointer, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int(hash % UInt64(max(count, 1)))
    }

    /// The index of the projection that owns `poll`, for `count` projections.
    public static func index(of poll: String, count: Int) -> Int {
        index(of: poll.utf8, count: count)
    }

    /// The index of the projection that owns the event in a log record's `payload` (see
    /// `EventCodec`: the poll id follows the 17-byte head); 0 when the payload is too short to
    /// say, and applying it will report why.
    @inline(__always)
    public static func index(ofRecord payload: UnsafeRawBufferPointer, count: Int) -> Int {
        guard count > 1, payload.count > EventView.headSize else { return 0 }
        let length = Int(payload[EventView.headSize])
        let start = EventView.headSize + 1
        guard start + length <= payload.count else { return 0 }
        return index(of: UnsafeRawBufferPointer(rebasing: payload[start..<start + length]), count: count)
    }
}
