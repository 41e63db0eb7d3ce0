/// The keyed hash of ids that the projection's tables use: a multiply-and-fold hash in the manner
/// of wyhash over 8-byte words.
///
/// Keyed by secrets drawn at random (`processKey`, once per process), so ids crafted without them
/// cannot be made to collide on purpose; it costs a few nanoseconds an id where `Hasher`
/// (SipHash) costs some sixty, which would be most of a restart's time. A ballot table keeps the
/// key it was created with for its whole life, and a snapshot stores it with the table's layout,
/// so a restart takes the table back as it was instead of hashing every id into a new one (see
/// `BallotTable+Image`). The key is in the data folder then, readable only by whoever can read the
/// votes themselves.
///
/// So the function itself is part of the snapshot format: a change to it (a constant, the way the
/// tail is read) moves where every voter belongs, and a restart would refuse each stored table as
/// misplaced. Change it only with a new `SnapshotCodec.currentVersion`.
enum IDHash {
    /// The secrets of one keying of `hash`. Each is odd, so no word can zero the state.
    struct Key: Equatable, Sendable {
        var s0: UInt64
        var s1: UInt64
        var s2: UInt64

        var isValid: Bool { s0 & s1 & s2 & 1 == 1 }
    }

    /// Drawn at random once per process: the key of every table this process creates and of the
    /// poll index.
    static let processKey: Key = {
        var generator = SystemRandomNumberGenerator()
        return Key(s0: generator.next() | 1, s1: generator.next() | 1, s2: generator.next() | 1)
    }()

    /// The 128-bit product of `a` and `b`, folded to 64 bits.
    @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// A keyed hash of an id's bytes: each 8-byte word (the last one zero-padded) is mixed into the
    /// state by a folded 128-bit multiply with a secret; the secrets make the result unpredictable
    /// without them, and keep a word from zeroing the state.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, key: Key) -> UInt64 {
        let (s0, s1, s2) = (key.s0, key.s1, key.s2)
        let count = bytes.count
        var state = s2 ^ (UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15)
        var offset = 0
        while offset + 8 <= count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            state = fold(word ^ s0, state ^ s1)
            offset += 8
        }
        // The last 1–7 bytes as one word, read without a loop: 4–7 bytes as two 4-byte reads
        // from each end (overlapping when fewer than 8), 1–3 as the first, middle and last byte.
        // Either way every byte is in the word, and the length is in the state already.
        let tail = count - offset
        if tail >= 4 {
            let low = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)))
            state = fold((low | high << 32) ^ s0, state ^ s1)
        } else if tail > 0 {
            let word = UInt64(bytes[offset]) | UInt64(bytes[offset + tail / 2]) << 8 | UInt64(bytes[count - 1]) << 16
            state = fold(word ^ s0, state ^ s1)
        }
        return fold(state ^ s1, state ^ s2 ^ 0xE703_7ED1_A0B4_28DB)
    }

    /// `hash(_:key:)` with this process's key.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 { hash(bytes, key: processKey) }

}
