/// The binary encoding of one event, the payload of a log record.
///
/// Layout (all integers little-endian):
/// ```
/// kind u8 | seq u64 | unix-ms i64 | fields
///   kind 1 pollCreated:   poll id8 | option count u8 | options id8… | question u16-length UTF-8
///   kind 2 voteCast:      poll id8 | voter id8 | option id8
///   kind 3 voteRetracted: poll id8 | voter id8
///   kind 4 pollClosed:    poll id8
/// id8 = length u8 (1–64) then the id's bytes
/// ```
/// Decoding checks every length and every id, so a record that passes its CRC but holds an
/// impossible event is still refused.
public enum EventCodec {
    /// Why a payload is not an event.
    public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        case truncated
        case unknownKind(UInt8)
        case invalidIdentifier
        case invalidQuestion
        case trailingBytes(Int)

        public var description: String {
            switch self {
            case .truncated: return "event payload is truncated"
            case .unknownKind(let kind): return "unknown event kind \(kind)"
            case .invalidIdentifier: return "event holds an invalid id"
            case .invalidQuestion: return "event holds a question that is not valid UTF-8"
            case .trailingBytes(let n): return "event payload has \(n) unexpected trailing bytes"
            }
        }
    }

    /// The byte that opens every payload and says which event follows (`EventView.Kind` has the same values).
    enum Kind: UInt8 {
        case pollCreated = 1, voteCast = 2, voteRetracted = 3, pollClosed = 4
    }

    /// Appends the payload of `event` to `buffer`.
    public static func encode(_ event: Event, into buffer: inout [UInt8]) {
        switch event.body {
        case .pollCreated(let poll, let options, let question):
            header(.pollCreated, event, into: &buffer)
            id(poll, into: &buffer)
            buffer.append(UInt8(truncatingIfNeeded: options.count))
            for option in options { id(option, into: &buffer) }
            let utf8 = question.utf8
            buffer.appendLittleEndian(UInt16(truncatingIfNeeded: utf8.count))
            buffer.append(contentsOf: utf8)
        case .voteCast(let poll, let voter, let option):
            header(.voteCast, event, into: &buffer)
            id(poll, into: &buffer)
            id(voter, into: &buffer)
            id(option, into: &buffer)
        case .voteRetracted(let poll, let voter):
            header(.voteRetracted, event, into: &buffer)
            id(poll, into: &buffer)
            id(voter, into: &buffer)
        case .pollClosed(let poll):
            header(.pollClosed, event, into: &buffer)
            id(poll, into: &buffer)
        }
    }

    /// Decodes one payload (exactly, with no bytes left over).
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(DecodeError) -> Event {
        var cursor = ByteCursor(payload)
        guard let rawKind = cursor.read(UInt8.self), let seq = cursor.read(UInt64.self),
              let time = cursor.read(Int64.self) else { throw .truncated }
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let body: EventBody
        switch kind {
        case .pollCreated:
            let poll = try readID(&cursor)
            guard let count = cursor.read(UInt8.self) else { throw .truncated }
            var options: [String] = []
            options.reserveCapacity(Int(count))
            for _ in 0..<count { options.append(try readID(&cursor)) }
            guard let length = cursor.read(UInt16.self) else { throw .truncated }
            guard let raw = cursor.readBytes(Int(length)) else { throw .truncated }
            guard let question = String(validating: raw, as: UTF8.self) else { throw .invalidQuestion }
            body = .pollCreated(poll: poll, options: options, question: question)
        case .voteCast:
            body = .voteCast(poll: try readID(&cursor), voter: try readID(&cursor), option: try readID(&cursor))
        case .voteRetracted:
            body = .voteRetracted(poll: try readID(&cursor), voter: try readID(&cursor))
        case .pollClosed:
            body = .pollClosed(poll: try readID(&cursor))
        }
        guard cursor.remaining == 0 else { throw .trailingBytes(cursor.remaining) }
        return Event(seq: seq, timestampMs: time, body: body)
    }

    /// Decodes one payload held in an array slice.
    public static func decode(_ payload: ArraySlice<UInt8>) throws(DecodeError) -> Event {
        let result: Result<Event, DecodeError> = payload.withUnsafeBytes { raw in
            do throws(DecodeError) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private static func header(_ kind: Kind, _ event: Event, into buffer: inout [UInt8]) {
        buffer.append(kind.rawValue)
        buffer.appendLittleEndian(event.seq)
        buffer.appendLittleEndian(event.timestampMs)
    }

    /// Appends an id as its length and bytes, copied at once (`String.UTF8View` went byte by byte).
    private static func id(_ value: String, into buffer: inout [UInt8]) {
        var value = value
        value.withUTF8 { utf8 in
            buffer.append(UInt8(truncatingIfNeeded: utf8.count))
            buffer.append(contentsOf: utf8)
        }
    }

    private static func readID(_ cursor: inout ByteCursor) throws(DecodeError) -> String {
        guard let length = cursor.read(UInt8.self), let raw = cursor.readBytes(Int(length)) else { throw .truncated }
        guard Identifier.isValid(raw) else { throw .invalidIdentifier }
        return String(decoding: raw, as: UTF8.self)
    }
}
