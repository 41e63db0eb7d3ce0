internal import CRC32C

/// CRC32C (Castagnoli), the checksum of every log record and snapshot.
///
/// Computed by the SSE4.2 instruction where the CPU has it (about 6 GB/s), by a table otherwise.
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        polltally_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    public static func checksum<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        if let value = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return value
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// The checksum a log record's frame stores: of the four length bytes at the start of `frame`,
    /// continued over the `payloadLength` bytes after the 8-byte head. `frame` must hold them.
    @inline(__always)
    public static func checksum(recordFrame frame: UnsafeRawBufferPointer, payloadLength: Int) -> UInt32 {
        polltally_crc32c_record(frame.baseAddress, payloadLength)
    }

    /// Whether the hardware instruction is in use.
    public static var isHardwareAccelerated: Bool { polltally_crc32c_hardware() != 0 }
}
