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
        let start = buffer.count
        let size = encodedSize(event.body)
        buffer.append(contentsOf: repeatElement(0, count: size))
        buffer.withUnsafeMutableBytes { raw in
            write(event, to: UnsafeMutableRawBufferPointer(rebasing: raw[start..<start + size]))
        }
    }

    /// The number of bytes the payload of an event with `body` takes.
    public static func encodedSize(_ body: EventBody) -> Int {
        let header = headSize
        switch body {
        case .pollCreated(let poll, let options, let question):
            return options.reduce(header + 1 + poll.utf8.count + 1 + 2 + question.utf8.count) { $0 + 1 + $1.utf8.count }
        case .voteCast(let poll, let voter, let option):
            return encodedVoteSize(poll: poll.utf8.count, voter: voter.utf8.count, option: option.utf8.count)
        case .voteRetracted(let poll, let voter):
            return header + 2 + poll.utf8.count + voter.utf8.count
        case .pollClosed(let poll):
            return header + 1 + poll.utf8.count
        }
    }

    /// The number of bytes the payload of a `voteCast` takes, for ids of these lengths.
    public static func encodedVoteSize(poll: Int, voter: Int, option: Int) -> Int {
        headSize + 3 + poll + voter + option
    }

    /// kind u8 | seq u64 | unix-ms i64, before an event's fields.
    static let headSize = 17

    /// Writes the payload of a `voteCast` event from its ids' bytes into `destination`, which is
    /// exactly `encodedVoteSize` bytes: the server's `VOTE` path, where the ids never become
    /// `String`s. `write` lays a `voteCast` out through here too.
    public static func writeVote(seq: UInt64, timestampMs: Int64, poll: UnsafeRawBufferPointer, voter: UnsafeRawBufferPointer,
                                 option: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer) {
        var writer = FieldWriter(destination)
        writer.header(.voteCast, seq: seq, timestampMs: timestampMs)
        writer.id(poll)
        writer.id(voter)
        writer.id(option)
        assert(writer.offset == destination.count, "encodedVoteSize and writeVote disagree")
    }

    /// Writes the payload of `event` into `destination`, which is exactly `encodedSize(event.body)`
    /// bytes: the log frames a record in place with it, where appending field by field to an
    /// array checked its capacity and uniqueness a dozen times an event.
    public static func write(_ event: Event, to destination: UnsafeMutableRawBufferPointer) {
        var writer = FieldWriter(destination)
        switch event.body {
        case .pollCreated(let poll, let options, let question):
            writer.header(.pollCreated, event)
            writer.id(poll)
            writer.byte(UInt8(truncatingIfNeeded: options.count))
            for option in options { writer.id(option) }
            var question = question
            question.withUTF8 { utf8 in
                writer.integer(UInt16(truncatingIfNeeded: utf8.count))
                writer.bytes(UnsafeRawBufferPointer(utf8))
            }
        case .voteCast(var poll, var voter, var option):
            poll.withUTF8 { poll in
                voter.withUTF8 { voter in
                    option.withUTF8 { option in
                        writeVote(seq: event.seq, timestampMs: event.timestampMs, poll: UnsafeRawBufferPointer(poll),
                                  voter: UnsafeRawBufferPointer(voter), option: UnsafeRawBufferPointer(option), to: destination)
                    }
                }
            }
            return
        case .voteRetracted(let poll, let voter):
            writer.header(.voteRetracted, event)
            writer.id(poll)
            writer.id(voter)
        case .pollClosed(let poll):
            writer.header(.pollClosed, event)
            writer.id(poll)
        }
        assert(writer.offset == destination.count, "encodedSize and write disagree")
    }

    /// Writes fields one after another into a buffer sized for them (`encodedSize`).
    private struct FieldWriter {
        let destination: UnsafeMutableRawBufferPointer
        var offset = 0

        init(_ destination: UnsafeMutableRawBufferPointer) { self.destination = destination }

        mutating func byte(_ value: UInt8) {
            destination[offset] = value
            offset += 1
        }

        mutating func integer<T: FixedWidthInteger>(_ value: T) {
            destination.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
        }

        mutating func bytes(_ source: UnsafeRawBufferPointer) {
            UnsafeMutableRawBufferPointer(rebasing: destination[offset..<offset + source.count]).copyMemory(from: source)
            offset += source.count
        }

        mutating func header(_ kind: Kind, _ event: Event) {
            header(kind, seq: event.seq, timestampMs: event.timestampMs)
        }

        mutating func header(_ kind: Kind, seq: UInt64, timestampMs: Int64) {
            byte(kind.rawValue)
            integer(seq)
            integer(timestampMs)
        }

        /// An id as its length and bytes.
        mutating func id(_ value: String) {
            var value = value
            value.withUTF8 { id(UnsafeRawBufferPointer($0)) }
        }

        mutating func id(_ value: UnsafeRawBufferPointer) {
            byte(UInt8(truncatingIfNeeded: value.count))
            bytes(value)
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

    private static func readID(_ cursor: inout ByteCursor) throws(DecodeError) -> String {
        guard let length = cursor.read(UInt8.self), let raw = cursor.readBytes(Int(length)) else { throw .truncated }
        guard Identifier.isValid(raw) else { throw .invalidIdentifier }
        return String(decoding: raw, as: UTF8.self)
    }
}
