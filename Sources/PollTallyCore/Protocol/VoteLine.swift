/// A well-formed `VOTE <poll> <voter> <option>` line, read without making a `String`: where its
/// three ids lie in the line. The server's path for its most frequent request; the ids go on as
/// bytes to the poll's shard, the log record and the ballot table.
///
/// `VoteLine(line)` accepts exactly the lines that `RequestParser.parse` reads as
/// `.command(.voteCast(...))`, with the same ids (tested against it); every other line, a `VOTE`
/// with a usage or id error included, is nil and goes through `RequestParser`, which words the
/// error.
public struct VoteLine: Equatable, Sendable {
    public var poll: Range<Int>
    public var voter: Range<Int>
    public var option: Range<Int>

    public init?(_ line: UnsafeRawBufferPointer) {
        var position = 0
        guard let verb = Self.token(line, &position), verb.count == 4,
              line[verb.lowerBound] | 0x20 == UInt8(ascii: "v"), line[verb.lowerBound + 1] | 0x20 == UInt8(ascii: "o"),
              line[verb.lowerBound + 2] | 0x20 == UInt8(ascii: "t"), line[verb.lowerBound + 3] | 0x20 == UInt8(ascii: "e"),
              let poll = Self.id(line, &position), let voter = Self.id(line, &position), let option = Self.id(line, &position),
              Self.token(line, &position) == nil else { return nil }
        self.poll = poll
        self.voter = voter
        self.option = option
    }

    /// The next space- or tab-separated token from `position` on (`RequestParser`'s separators).
    private static func token(_ line: UnsafeRawBufferPointer, _ position: inout Int) -> Range<Int>? {
        while position < line.count, line[position] == UInt8(ascii: " ") || line[position] == UInt8(ascii: "\t") { position += 1 }
        guard position < line.count else { return nil }
        let start = position
        while position < line.count, line[position] != UInt8(ascii: " "), line[position] != UInt8(ascii: "\t") { position += 1 }
        return start..<position
    }

    /// The next token, if it is a valid id (`Identifier`).
    private static func id(_ line: UnsafeRawBufferPointer, _ position: inout Int) -> Range<Int>? {
        guard let range = token(line, &position), Identifier.isValid(UnsafeRawBufferPointer(rebasing: line[range])) else { return nil }
        return range
    }
}
