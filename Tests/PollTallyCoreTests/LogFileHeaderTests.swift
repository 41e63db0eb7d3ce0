import Testing
@testable import PollTallyCore

@Suite("LogFileHeader")
struct LogFileHeaderTests {
    static func decode(_ bytes: [UInt8]) -> Result<LogFileHeader, LogFileHeader.DecodeError> {
        bytes.withUnsafeBytes { raw in
            do throws(LogFileHeader.DecodeError) {
                return .success(try LogFileHeader.decode(raw))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test("the encoding is magic, version, zero, first seq, little-endian, 24 bytes")
    func layout() {
        let header = LogFileHeader(firstSeq: 0x0102_0304_0506_0708)
        let expected: [UInt8] = Array("PTALLYLG".utf8)
            + [1, 0, 0, 0]
            + [0, 0, 0, 0]
            + [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
        #expect(header.encoded == expected)
        #expect(header.encoded.count == LogFileHeader.size)
        #expect(LogFileHeader.size == 24)
        #expect(header.version == LogFileHeader.currentVersion)
    }

    @Test("encode then decode gives the header back", arguments: [UInt64(0), 1, 2, 1000, 0xDEAD_BEEF, .max])
    func roundTrip(_ firstSeq: UInt64) {
        let header = LogFileHeader(firstSeq: firstSeq)
        #expect(Self.decode(header.encoded) == .success(header))
    }

    @Test("decode reads only the first 24 bytes of a longer buffer")
    func longerBuffer() {
        let header = LogFileHeader(firstSeq: 42)
        #expect(Self.decode(header.encoded + [1, 2, 3, 4, 5, 6, 7, 8, 9]) == .success(header))
    }

    @Test("a damaged magic byte is refused as badMagic", arguments: 0..<8)
    func badMagic(_ index: Int) {
        var bytes = LogFileHeader(firstSeq: 1).encoded
        bytes[index] ^= 0x20
        #expect(Self.decode(bytes) == .failure(.badMagic))
    }

    @Test("some other file is refused as badMagic")
    func otherFile() {
        #expect(Self.decode(Array("#!/bin/sh\necho hello world\n".utf8)) == .failure(.badMagic))
        #expect(Self.decode(Array(repeating: 0, count: 24)) == .failure(.badMagic))
    }

    @Test("an unsupported version is refused with that version", arguments: [UInt32(0), 2, 3, 0x0100_0000, .max])
    func badVersion(_ version: UInt32) {
        let bytes = LogFileHeader(version: version, firstSeq: 1).encoded
        #expect(Self.decode(bytes) == .failure(.unsupportedVersion(version)))
    }

    @Test("a reserved field other than zero is refused, at offset 12", arguments: [UInt32(1), 0x100, 0x8000_0000, .max])
    func reservedNotZero(_ value: UInt32) {
        var bytes = LogFileHeader(firstSeq: 1).encoded
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(12..<16, with: $0) }
        #expect(Self.decode(bytes) == .failure(.reservedNotZero(value)))
        #expect(LogFileHeader.DecodeError.reservedNotZero(value).offset == 12)
    }

    @Test("a header cut at every length is truncated")
    func truncated() {
        let bytes = LogFileHeader(firstSeq: 7).encoded
        for length in 0..<LogFileHeader.size {
            #expect(Self.decode(Array(bytes.prefix(length))) == .failure(.truncated), "length \(length)")
        }
    }

    @Test("a short buffer with a bad magic is still reported as truncated")
    func shortAndBadMagic() {
        #expect(Self.decode(Array("NOTALOG".utf8)) == .failure(.truncated))
    }

    @Test("errors describe themselves")
    func descriptions() {
        #expect(LogFileHeader.DecodeError.unsupportedVersion(9).description.contains("9"))
        #expect(LogFileHeader.DecodeError.badMagic.description.contains("magic"))
    }
}
