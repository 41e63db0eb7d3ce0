import PollTallyCore

/// A batch of verified records copied out of the scanner's buffers, so that one thread can apply
/// it while another scans on: the records' bytes, the segment they came from, and where each lies.
///
/// `@unchecked Sendable`: a batch belongs to one thread at a time, the scanner's while it fills
/// it and the applier's while it applies it, and passes between them only through `BatchHandOff`,
/// whose lock orders the two.
final class ScannedBatch: @unchecked Sendable {
    /// The segment the records come from.
    private(set) var path = ""
    /// The bytes of the records, frames included, from the first record's start to the last one's end.
    private(set) var bytes: [UInt8] = []
    /// The segment offset of `bytes[0]`: a record's `offset` and `payload` are still segment offsets.
    private(set) var base = 0
    /// In log order.
    private(set) var records: [RecordBatch.Record] = []

    /// Makes this a copy of `batch` (reusing its storage): `batch` is valid only during the scanner's visit.
    func fill(from batch: RecordBatch) {
        path = batch.path
        records.removeAll(keepingCapacity: true)
        records.append(contentsOf: batch.records)
        bytes.removeAll(keepingCapacity: true)
        guard let first = batch.records.first, let last = batch.records.last else { return }
        base = first.offset
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: batch.bytes[first.offset..<last.payload.upperBound]))
    }

    /// The payload of `record`, within `raw`, which must be `bytes`.
    @inline(__always)
    func payload(of record: RecordBatch.Record, in raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: raw[(record.payload.lowerBound - base)..<(record.payload.upperBound - base)])
    }
}
