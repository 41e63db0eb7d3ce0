import Testing
@testable import PollTallyCore

/// A bit-at-a-time CRC32C, independent of the table and hardware paths under test.
private func referenceCRC32C(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
    var c = ~crc
    for byte in bytes {
        c ^= UInt32(byte)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
}

@Suite("CRC32C")
struct CRC32CTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let crc: UInt32
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "\"123456789\"", bytes: Array("123456789".utf8), crc: 0xE306_9283),
        Vector(name: "empty", bytes: [], crc: 0),
        Vector(name: "32 zeros", bytes: Array(repeating: 0, count: 32), crc: 0x8A91_36AA),
        Vector(name: "32 x 0xFF", bytes: Array(repeating: 0xFF, count: 32), crc: 0x62A8_AB43),
        Vector(name: "32 ascending 0...31", bytes: (0..<32).map { UInt8($0) }, crc: 0x46DD_794E),
    ]

    @Test("known vectors, array overload", arguments: vectors)
    func knownVectorsArray(_ vector: Vector) {
        #expect(CRC32C.checksum(vector.bytes) == vector.crc)
    }

    @Test("known vectors, raw buffer overload", arguments: vectors)
    func knownVectorsRaw(_ vector: Vector) {
        let crc = vector.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        #expect(crc == vector.crc)
    }

    @Test("known vectors, non-contiguous collection (copying fallback)", arguments: vectors)
    func knownVectorsNonContiguous(_ vector: Vector) {
        // A lazy map has no contiguous storage, so this takes the copying path.
        let lazy = vector.bytes.lazy.map { $0 }
        #expect(CRC32C.checksum(lazy) == vector.crc)
    }

    @Test("continuing works through the non-contiguous (copying) path too")
    func nonContiguousContinuing() {
        let first = CRC32C.checksum(Array("1234".utf8))
        #expect(CRC32C.checksum(Array("56789".utf8).lazy.map { $0 }, continuing: first) == 0xE306_9283)
        let range: Range<UInt8> = 16..<32
        let lowHalf = CRC32C.checksum((0..<16).map { UInt8($0) })
        #expect(CRC32C.checksum(range, continuing: lowHalf) == 0x46DD_794E)
    }

    @Test("the test's reference implementation agrees with the known vectors", arguments: vectors)
    func referenceAgrees(_ vector: Vector) {
        #expect(referenceCRC32C(vector.bytes) == vector.crc)
    }

    @Test("an array slice at an odd offset checksums its own bytes only")
    func arraySlice() {
        let bytes = Array("xx123456789yy".utf8)
        #expect(CRC32C.checksum(bytes[2..<11]) == 0xE306_9283)
    }

    @Test("chunked computation (continuing:) equals the whole, at every split point")
    func chunkedEqualsWhole() {
        let data: [UInt8] = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = CRC32C.checksum(data)
        #expect(whole == referenceCRC32C(data))
        for split in 0...data.count {
            let first = CRC32C.checksum(data[..<split])
            let both = CRC32C.checksum(data[split...], continuing: first)
            #expect(both == whole, "split at \(split)")
        }
    }

    @Test("three-piece chunking equals the whole")
    func threePieces() {
        let data: [UInt8] = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 101 &+ 7) }
        let whole = CRC32C.checksum(data)
        for a in 0...data.count {
            for b in a...data.count {
                var crc = CRC32C.checksum(data[..<a])
                crc = CRC32C.checksum(data[a..<b], continuing: crc)
                crc = CRC32C.checksum(data[b...], continuing: crc)
                #expect(crc == whole, "splits at \(a), \(b)")
            }
        }
    }

    @Test("\"123456789\" in pieces gives 0xE3069283")
    func knownVectorInPieces() {
        let first = CRC32C.checksum(Array("1234".utf8))
        #expect(CRC32C.checksum(Array("56789".utf8), continuing: first) == 0xE306_9283)
    }

    @Test("continuing over no bytes leaves the crc unchanged")
    func continuingOverEmpty() {
        let crc = CRC32C.checksum(Array("abc".utf8))
        #expect(CRC32C.checksum([UInt8](), continuing: crc) == crc)
    }

    @Test("agrees with a bitwise reference for every length 0...300 and several alignments")
    func agreesWithReference() {
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        func nextByte() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let pool = (0..<320).map { _ in nextByte() }
        for length in 0...300 {
            for alignment in [0, 1, 3, 7] where alignment + length <= pool.count {
                let bytes = Array(pool[alignment..<alignment + length])
                let viaSlice = CRC32C.checksum(pool[alignment..<alignment + length])
                let expected = referenceCRC32C(bytes)
                #expect(viaSlice == expected, "length \(length), alignment \(alignment)")
            }
        }
    }

    @Test("a different input gives a different checksum")
    func sensitivity() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) != CRC32C.checksum(Array("123456788".utf8)))
        #expect(CRC32C.checksum([0]) != 0)
    }

    @Test("a record frame's checksum in one call equals the length bytes' then the payload's")
    func recordFrame() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for payloadLength in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 40, 63, 64, 65, 255, 1000] {
            var frame = [UInt8](repeating: 0, count: 8 + payloadLength)
            for index in frame.indices {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                frame[index] = UInt8(truncatingIfNeeded: seed >> 33)
            }
            let expected = CRC32C.checksum(Array(frame[8...]), continuing: CRC32C.checksum(Array(frame[0..<4])))
            let actual = frame.withUnsafeBytes { CRC32C.checksum(recordFrame: $0, payloadLength: payloadLength) }
            #expect(actual == expected, "payload of \(payloadLength) bytes")
            // The stored checksum (bytes 4..<8) is not part of it.
            frame[5] ^= 0xFF
            #expect(frame.withUnsafeBytes { CRC32C.checksum(recordFrame: $0, payloadLength: payloadLength) } == expected)
        }
    }
}
