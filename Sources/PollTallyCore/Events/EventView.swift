/// One event read in place from its payload: kind, seq and time, and where its ids lie, with no
/// `String` made. What replay and recovery apply millions of times a second (`Projection.apply(record:)`);
/// everything else decodes a whole `Event` with `EventCodec.decode`.
///
/// A view of a vote, a retraction or a close checks the payload exactly as `EventCodec.decode`
/// does (lengths, ids, nothing left over). Of a poll's creation it reads only the poll id: its
/// options and question are rare and go through `EventCodec.decode`.
public struct EventView: Sendable {
    /// The four kinds of event, as their payload's first byte says.
    public enum Kind: UInt8, Sendable {
        case pollCreated = 1, voteCast = 2, voteRetracted = 3, pollClosed = 4
    }

    public let kind: Kind
    public let seq: UInt64
    public let timestampMs: Int64
    /// Byte ranges of the ids within the payload; `voter` and `option` are empty when the kind has none.
    public let poll: Range<Int>
    public let voter: Range<Int>
    public let option: Range<Int>

    /// The size of the fixed head of every payload: kind u8, seq u64, time i64.
    static let headSize = EventCodec.headSize

    public init(_ payload: UnsafeRawBufferPointer) throws(EventCodec.DecodeError) {
        guard payload.count >= Self.headSize else { throw .truncated }
        guard let kind = Kind(rawValue: payload[0]) else { throw .unknownKind(payload[0]) }
        self.kind = kind
        seq = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
        timestampMs = Int64(littleEndian: payload.loadUnaligned(fromByteOffset: 9, as: Int64.self))
        var offset = Self.headSize
        poll = try Self.id(payload, &offset)
        switch kind {
        case .pollCreated:
            voter = offset..<offset
            option = offset..<offset
            return
        case .voteCast:
            voter = try Self.id(payload, &offset)
            option = try Self.id(payload, &offset)
        case .voteRetracted:
            voter = try Self.id(payload, &offset)
            option = offset..<offset
        case .pollClosed:
            voter = offset..<offset
            option = offset..<offset
        }
        guard offset == payload.count else { throw .trailingBytes(payload.count - offset) }
    }

    /// The seq of the payload's event, read from its head alone; nil when the head is not an event's.
    @inline(__always)
    public static func seq(of payload: UnsafeRawBufferPointer) -> UInt64? {
        guard payload.count >= headSize, Kind(rawValue: payload[0]) != nil else { return nil }
        return UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
    }

    /// Reads a length-prefixed id at `offset` and checks it.
    @inline(__always)
    private static func id(_ payload: UnsafeRawBufferPointer, _ offset: inout Int) throws(EventCodec.DecodeError) -> Range<Int> {
        guard offset < payload.count else { throw .truncated }
        let length = Int(payload[offset])
        let start = offset + 1
        guard start + length <= payload.count else { throw .truncated }
        guard length >= 1, length <= Identifier.maxLength else { throw .invalidIdentifier }
        for index in start..<start + length where !Identifier.isAllowed(payload[index]) { throw .invalidIdentifier }
        offset = start + length
        return start..<offset
    }
}
