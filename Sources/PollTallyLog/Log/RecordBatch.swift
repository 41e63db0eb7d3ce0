/// Records of one segment handed over undecoded by `LogScanner.scanRecords`: each record's
/// checksum, head and seq are verified; its payload is still bytes of the segment.
///
/// Valid only while the visitor that receives it runs: `bytes` points into the segment read.
public struct RecordBatch {
    /// One record: where it starts in the segment (for error reports), its payload and its seq.
    public struct Record: Sendable {
        public var offset: Int
        public var payload: Range<Int>
        public var seq: UInt64
    }

    /// The segment the records come from.
    public let path: String
    /// The segment's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// In log order.
    public internal(set) var records: [Record] = []

    init(path: String, bytes: UnsafeRawBufferPointer) {
        self.path = path
        self.bytes = bytes
        records.reserveCapacity(1024)
    }

    /// The payload of `record`.
    @inline(__always)
    public func payload(of record: Record) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[record.payload])
    }
}
