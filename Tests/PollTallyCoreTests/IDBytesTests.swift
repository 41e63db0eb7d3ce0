import Testing
@testable import PollTallyCore

@Suite("IDBytes")
struct IDBytesTests {
    @Test("equal is memcmp's answer for every length up to 70 and a difference at every position")
    func matchesByteComparison() {
        for count in 0...70 {
            let a = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            // Copies in buffers one byte longer than needed, offset by one, so the loads are unaligned.
            var b = [UInt8](repeating: 0xEE, count: count + 2)
            b.replaceSubrange(1..<count + 1, with: a)
            a.withUnsafeBytes { ra in
                b.withUnsafeBytes { rb in
                    let pa = ra.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, pb = rb.baseAddress! + 1
                    #expect(IDBytes.equal(pa, pb, count: count), "equal ids of \(count) bytes")
                }
            }
            for position in 0..<count {
                for flip: UInt8 in [0x01, 0x80] {
                    var c = b
                    c[position + 1] ^= flip
                    a.withUnsafeBytes { ra in
                        c.withUnsafeBytes { rc in
                            #expect(!IDBytes.equal(ra.baseAddress!, rc.baseAddress! + 1, count: count), "\(count) bytes, differing at \(position)")
                        }
                    }
                }
            }
            // The bytes around the ids are never read into the answer.
            var d = b
            d[0] ^= 0xFF
            d[count + 1] ^= 0xFF
            a.withUnsafeBytes { ra in
                d.withUnsafeBytes { rd in
                    let pa = ra.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                    #expect(IDBytes.equal(pa, rd.baseAddress! + 1, count: count))
                }
            }
        }
    }
}
