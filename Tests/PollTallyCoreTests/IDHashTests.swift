import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("IDHash")
struct IDHashTests {
    static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { IDHash.hash($0) } }

    @Test("the same bytes hash the same wherever they lie; the bytes around them do not count")
    func dependsOnTheBytesOnly() {
        for count in 1...40 {
            let id = (0..<count).map { UInt8(truncatingIfNeeded: 65 + $0 * 7) }
            let alone = Self.hash(id)
            for padding: UInt8 in [0x00, 0xFF] {
                let framed = [padding, padding, padding] + id + [padding, padding, padding, padding]
                let inside = framed.withUnsafeBytes { IDHash.hash(UnsafeRawBufferPointer(rebasing: $0[3..<3 + count])) }
                #expect(inside == alone, "\(count) bytes, padding \(padding)")
            }
        }
    }

    @Test("ids that differ in one byte, or only in length, hash apart (all lengths 1-24, every position)")
    func everyByteCounts() {
        var seen: [UInt64: [UInt8]] = [:]
        var rng = SplitMix64(seed: 5)
        for count in 1...24 {
            let base = (0..<count).map { _ in UInt8.random(in: 33...126, using: &rng) }
            var variants = [base, base + [base[count - 1]]]
            for position in 0..<count {
                for flip: UInt8 in [0x01, 0x20, 0x80] {
                    var variant = base
                    variant[position] ^= flip
                    variants.append(variant)
                }
            }
            for variant in variants {
                let hash = Self.hash(variant)
                if let other = seen[hash], other != variant { Issue.record("\(variant) and \(other) collide") }
                seen[hash] = variant
            }
        }
        #expect(seen.count > 24 * 3)
    }

    @Test("200,000 voter ids spread over a table's low bits: no bucket of 4,096 gets more than twice its share")
    func lowBitsSpread() {
        var buckets = [Int](repeating: 0, count: 4096)
        for voter in 0..<200_000 { buckets[Int(truncatingIfNeeded: Self.hash(Array("v\(voter)".utf8))) & 4095] += 1 }
        let share = 200_000 / 4096
        #expect(buckets.max() ?? 0 < 2 * share + 20, "fullest bucket \(buckets.max() ?? 0), share \(share)")
    }

    /// Snapshots store tables laid out by this function (`BallotTable+Image`): a change to it
    /// would make every stored table misplaced. These values pin it; a deliberate change comes
    /// with a new `SnapshotCodec.currentVersion` and new values here.
    @Test("the function is pinned: a fixed key gives these values")
    func pinned() {
        let key = IDHash.Key(s0: 0x0123_4567_89AB_CDEF, s1: 0xFEDC_BA98_7654_3211, s2: 0x0F1E_2D3C_4B5A_6979)
        let ids = ["v", "ab", "v123", "voter-7", "v1234567", "voter-123456789", String(repeating: "z", count: 64)]
        let values = ids.map { id in Array(id.utf8).withUnsafeBytes { IDHash.hash($0, key: key) } }
        #expect(values == Self.pinnedValues)
    }

    static let pinnedValues: [UInt64] = [
        0xAEB9_551A_465E_A4FE, 0xD371_634E_50E1_D3BC, 0xA834_FF51_390E_EFE3, 0x6029_CEF9_C6AB_0936,
        0x2639_01C7_4385_7087, 0x64A1_A7B4_BC23_CEA6, 0x043C_0CED_6D64_7B61,
    ]
}
