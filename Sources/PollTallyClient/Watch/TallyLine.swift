/// A tally as a client reads it from a `TALLY` or `UPDATE` line:
/// `<poll> <seq> <open|closed> <opt>=<count> … total=<voters>`.
public struct TallyLine: Equatable, Sendable {
    public var poll: String
    public var seq: UInt64
    public var isOpen: Bool
    public var options: [(name: String, count: Int)]
    public var total: Int

    public static func == (a: TallyLine, b: TallyLine) -> Bool {
        a.poll == b.poll && a.seq == b.seq && a.isOpen == b.isOpen && a.total == b.total
            && a.options.map(\.name) == b.options.map(\.name) && a.options.map(\.count) == b.options.map(\.count)
    }

    /// Parses a line starting with `UPDATE ` or `TALLY `, or just the body; nil if malformed.
    public init?(_ line: String) {
        var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if fields.first == "UPDATE" || fields.first == "TALLY" { fields.removeFirst() }
        guard fields.count >= 4, let seq = UInt64(fields[1]), fields[2] == "open" || fields[2] == "closed",
              let last = fields.last, last.hasPrefix("total="), let total = Int(last.dropFirst(6)) else { return nil }
        var options: [(name: String, count: Int)] = []
        for field in fields[3..<(fields.count - 1)] {
            guard let equals = field.lastIndex(of: "="), let count = Int(field[field.index(after: equals)...]) else { return nil }
            options.append((String(field[..<equals]), count))
        }
        self.poll = fields[0]
        self.seq = seq
        self.isOpen = fields[2] == "open"
        self.options = options
        self.total = total
    }
}
