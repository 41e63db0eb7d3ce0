/// The 24-byte header at the start of every log segment file.
///
/// ```
/// magic "PTALLYLG" (8) | format version u32 | reserved u32 (0) | first seq u64
/// ```
/// The first seq is the seq of the segment's first record, also the number in its file name.
/// The header has no checksum of its own; instead every byte of it is checked on read (the
/// reserved word must be zero, the first seq must match the file name), so that a flipped bit
/// anywhere in a segment is caught.
public struct LogFileHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("PTALLYLG".utf8)
    public static let currentVersion: UInt32 = 1
    public static let size = 24

    public var version: UInt32
    public var firstSeq: UInt64

    public init(version: UInt32 = LogFileHeader.currentVersion, firstSeq: UInt64) {
        self.version = version
        self.firstSeq = firstSeq
    }

    /// Why a header is refused.
    public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        case truncated
        case badMagic
        case unsupportedVersion(UInt32)
        /// Bytes 12–15, written as zero, are not.
        case reservedNotZero(UInt32)

        public var description: String {
            switch self {
            case .truncated: return "file is shorter than its header"
            case .badMagic: return "not a PollTally log file (bad magic)"
            case .unsupportedVersion(let v): return "unsupported log format version \(v)"
            case .reservedNotZero(let v): return "reserved field is \(v), not 0"
            }
        }

        /// The byte offset in the file of the field that is wrong (0 for a file too short).
        public var offset: Int {
            switch self {
            case .truncated, .badMagic: return 0
            case .unsupportedVersion: return 8
            case .reservedNotZero: return 12
            }
        }
    }

    /// The byte offset of the first seq, for a header whose first seq disagrees with its file name.
    public static let firstSeqOffset = 16

    /// The header's bytes.
    public var encoded: [UInt8] {
        var bytes = Self.magic
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(firstSeq)
        return bytes
    }

    /// Reads a header from the start of `bytes`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> LogFileHeader {
        guard bytes.count >= size else { throw .truncated }
        guard Array(bytes[0..<8]) == magic else { throw .badMagic }
        var cursor = ByteCursor(bytes, offset: 8)
        guard let version = cursor.read(UInt32.self), let reserved = cursor.read(UInt32.self),
              let first = cursor.read(UInt64.self) else { throw .truncated }
        guard version == currentVersion else { throw .unsupportedVersion(version) }
        guard reserved == 0 else { throw .reservedNotZero(reserved) }
        return LogFileHeader(version: version, firstSeq: first)
    }
}
