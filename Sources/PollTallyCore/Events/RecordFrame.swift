/// The framing of one log record: `length u32 | crc u32 | payload`, little-endian.
///
/// `length` counts payload bytes; `crc` is the CRC32C of the four length bytes followed by the
/// payload, so a damaged length is caught as surely as a damaged payload. A torn or corrupted
/// record therefore never decodes.
public enum RecordFrame {
    /// Bytes before the payload.
    public static let headerSize = 8
    /// The largest payload a record may carry; anything claiming more is damage, not data.
    public static let maxPayload = 1 << 20

    /// What sits at some offset of a buffer.
    public enum Scan: Equatable, Sendable {
        /// A verified record: its payload occupies `payload`, the next record starts at `next`.
        case record(payload: Range<Int>, next: Int)
        /// The buffer ends inside this record (or before its header is complete).
        case incomplete
        /// The bytes here are not a valid record.
        case corrupt(Reason)
    }

    /// Why a record failed to verify.
    public enum Reason: Equatable, Sendable, CustomStringConvertible {
        case badLength(UInt32)
        case badChecksum

        public var description: String {
            switch self {
            case .badLength(let length): return "impossible record length \(length)"
            case .badChecksum: return "record checksum mismatch"
            }
        }
    }

    /// Appends a record whose payload is written by `payload` to `buffer`.
    @inlinable
    public static func append(to buffer: inout [UInt8], payload: (inout [UInt8]) -> Void) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerSize))
        payload(&buffer)
        let length = UInt32(buffer.count - start - headerSize)
        buffer.storeLittleEndian(length, at: start)
        let crc = buffer.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 4]))
        }
        let full = buffer.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + headerSize)...]), continuing: crc)
        }
        buffer.storeLittleEndian(full, at: start + 4)
    }

    /// Appends the record of `event` to `buffer`.
    public static func append(_ event: Event, to buffer: inout [UInt8]) {
        append(to: &buffer, payloadSize: EventCodec.encodedSize(event.body)) { EventCodec.write(event, to: $0) }
    }

    /// Appends the record of a `voteCast` given by its ids' bytes (`EventCodec.writeVote`). The
    /// record (220 bytes at most, for ids of 64) is laid out on the stack and appended with one copy.
    public static func appendVote(seq: UInt64, timestampMs: Int64, poll: UnsafeRawBufferPointer, voter: UnsafeRawBufferPointer,
                                  option: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        let payloadSize = EventCodec.encodedVoteSize(poll: poll.count, voter: voter.count, option: option.count)
        withUnsafeTemporaryAllocation(byteCount: headerSize + payloadSize, alignment: 8) { frame in
            EventCodec.writeVote(seq: seq, timestampMs: timestampMs, poll: poll, voter: voter, option: option,
                                 to: UnsafeMutableRawBufferPointer(rebasing: frame[headerSize...]))
            seal(frame, payloadSize: payloadSize)
            buffer.append(contentsOf: UnsafeRawBufferPointer(frame))
        }
    }

    /// Appends a record whose payload of `payloadSize` bytes `write` fills in place: the buffer
    /// grows once, and the length and payload are checksummed in one call (appending field by
    /// field checked the array's capacity and uniqueness a dozen times an event).
    @inline(__always)
    static func append(to buffer: inout [UInt8], payloadSize: Int, write: (UnsafeMutableRawBufferPointer) -> Void) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerSize + payloadSize))
        buffer.withUnsafeMutableBytes { raw in
            let frame = UnsafeMutableRawBufferPointer(rebasing: raw[start..<start + headerSize + payloadSize])
            write(UnsafeMutableRawBufferPointer(rebasing: frame[headerSize...]))
            seal(frame, payloadSize: payloadSize)
        }
    }

    /// Writes the head of a frame whose payload is in place: its length, and the checksum of
    /// the length bytes and the payload.
    @inline(__always)
    private static func seal(_ frame: UnsafeMutableRawBufferPointer, payloadSize: Int) {
        frame.storeBytes(of: UInt32(payloadSize).littleEndian, toByteOffset: 0, as: UInt32.self)
        let crc = CRC32C.checksum(recordFrame: UnsafeRawBufferPointer(frame), payloadLength: payloadSize)
        frame.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// The payload of the record at `offset` of `bytes`, and where the next one starts, judged by
    /// its frame alone: the length is possible and the record fits. Its checksum is not computed,
    /// so the payload may still be damaged: for hopping over records whose contents are not
    /// needed (the ones a snapshot covers), never for records to apply.
    @inline(__always)
    public static func skip(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (payload: Range<Int>, next: Int)? {
        guard offset >= 0, offset + headerSize <= bytes.count else { return nil }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let start = offset + headerSize
        let end = start + length
        guard length > 0, length <= maxPayload, end <= bytes.count else { return nil }
        return (start..<end, end)
    }

    /// Examines the record that starts at `offset` of `bytes`.
    public static func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Scan {
        guard offset >= 0, offset + headerSize <= bytes.count else { return .incomplete }
        let length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        guard length > 0, length <= maxPayload else { return .corrupt(.badLength(length)) }
        let start = offset + headerSize
        let end = start + Int(length)
        guard end <= bytes.count else { return .incomplete }
        let full = CRC32C.checksum(recordFrame: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), payloadLength: Int(length))
        guard full == stored else { return .corrupt(.badChecksum) }
        return .record(payload: start..<end, next: end)
    }
}
