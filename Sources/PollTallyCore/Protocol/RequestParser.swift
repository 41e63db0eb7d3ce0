/// Parses one request line (already framed, without `\r\n`) into a `Request`: a pure function of bytes.
///
/// Verbs are case-insensitive; arguments are separated by runs of spaces or tabs. Ids must follow
/// `Identifier`'s rules. The question of `CREATE` is the rest of the line after the options, trimmed,
/// valid UTF-8 without control characters, at most `maxQuestionBytes` bytes.
public struct RequestParser: Sendable {
    public var maxQuestionBytes: Int
    public var maxOptions: Int

    public init(maxQuestionBytes: Int = 1024, maxOptions: Int = 64) {
        self.maxQuestionBytes = maxQuestionBytes
        self.maxOptions = maxOptions
    }

    /// The usage line of each verb, shown in `bad-request` errors and by `HELP`.
    public static let usage: [(verb: String, syntax: String, summary: String)] = [
        ("PING", "PING", "check that the server answers (PONG)"),
        ("CREATE", "CREATE <poll> <opt>,<opt>[,...] [question...]", "create a poll with its options and an optional question"),
        ("VOTE", "VOTE <poll> <voter> <option>", "cast or move a voter's vote"),
        ("UNVOTE", "UNVOTE <poll> <voter>", "retract a voter's vote"),
        ("CLOSE", "CLOSE <poll>", "stop a poll taking votes"),
        ("TALLY", "TALLY <poll>", "one line: seq, open/closed, count per option, total"),
        ("RESULTS", "RESULTS <poll>", "the results for people: question, counts, percentages, bars"),
        ("POLLS", "POLLS", "list every poll"),
        ("WATCH", "WATCH <poll> [<poll>...] | WATCH *", "push UPDATE lines as tallies change (* = every poll, new ones too)"),
        ("UNWATCH", "UNWATCH [<poll>...]", "stop watching some polls, or all"),
        ("TAIL", "TAIL [FROM <seq>] [POLL <poll>]", "stream EVENT lines from seq (default: new ones), from disk then live"),
        ("STATS", "STATS", "server counters"),
        ("AUTH", "AUTH <token>", "authenticate, when the server requires a token"),
        ("HELP", "HELP", "this list"),
        ("QUIT", "QUIT", "say BYE and close the connection"),
    ]

    /// Parses `line`. Returns nil for a blank line, which gets no reply.
    public func parse(_ line: UnsafeRawBufferPointer) -> Result<Request, ProtocolError>? {
        var tokens = Tokenizer(line)
        guard let verbRange = tokens.next() else { return nil }
        let verb = Self.uppercased(UnsafeRawBufferPointer(rebasing: line[verbRange]))
        switch verb {
        case "PING": return noArguments(&tokens, .ping, verb)
        case "POLLS": return noArguments(&tokens, .polls, verb)
        case "STATS": return noArguments(&tokens, .stats, verb)
        case "HELP": return noArguments(&tokens, .help, verb)
        case "QUIT": return noArguments(&tokens, .quit, verb)
        case "VOTE":
            return ids(&tokens, line, count: 3, verb).map { .command(.voteCast(poll: $0[0], voter: $0[1], option: $0[2])) }
        case "UNVOTE":
            return ids(&tokens, line, count: 2, verb).map { .command(.voteRetracted(poll: $0[0], voter: $0[1])) }
        case "CLOSE":
            return ids(&tokens, line, count: 1, verb).map { .command(.pollClosed(poll: $0[0])) }
        case "TALLY":
            return ids(&tokens, line, count: 1, verb).map { .tally(poll: $0[0]) }
        case "RESULTS":
            return ids(&tokens, line, count: 1, verb).map { .results(poll: $0[0]) }
        case "WATCH":
            if Self.isOnlyStar(&tokens, line) { return .success(.watchAll) }
            return idList(&tokens, line, verb, atLeastOne: true).map { .watch(polls: $0) }
        case "UNWATCH":
            if Self.isOnlyStar(&tokens, line) { return .success(.unwatch(polls: [])) }
            return idList(&tokens, line, verb, atLeastOne: false).map { .unwatch(polls: $0) }
        case "TAIL":
            return tail(&tokens, line)
        case "AUTH":
            guard let range = tokens.next(), tokens.next() == nil else { return .failure(usageError("AUTH")) }
            return .success(.auth(token: Array(UnsafeRawBufferPointer(rebasing: line[range]))))
        case "CREATE":
            return create(&tokens, line)
        default:
            return .failure(ProtocolError(.unknownCommand, "unknown command \(Self.printable(verb)); try HELP"))
        }
    }

    /// Parses a line held in an array (tests and tools).
    public func parse(_ line: [UInt8]) -> Result<Request, ProtocolError>? {
        line.withUnsafeBytes { parse($0) }
    }

    /// Parses a line given as text (tests and tools).
    public func parse(_ line: String) -> Result<Request, ProtocolError>? {
        parse(Array(line.utf8))
    }

    // MARK: - Verbs

    private func create(_ tokens: inout Tokenizer, _ line: UnsafeRawBufferPointer) -> Result<Request, ProtocolError> {
        guard let pollRange = tokens.next(), let optionsRange = tokens.next() else { return .failure(usageError("CREATE")) }
        guard let poll = Self.id(line, pollRange) else { return .failure(Self.badID("poll")) }
        var options: [String] = []
        var start = optionsRange.lowerBound
        for i in optionsRange.lowerBound...optionsRange.upperBound where i == optionsRange.upperBound || line[i] == UInt8(ascii: ",") {
            guard let option = Self.id(line, start..<i) else { return .failure(Self.badID("option")) }
            options.append(option)
            if options.count > maxOptions {
                return .failure(ProtocolError(.badRequest, "a poll has at most \(maxOptions) options"))
            }
            start = i + 1
        }
        let rest = Self.trimmed(line, from: optionsRange.upperBound)
        guard rest.count <= maxQuestionBytes else {
            return .failure(ProtocolError(.badRequest, "the question is longer than \(maxQuestionBytes) bytes"))
        }
        guard !rest.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) else {
            return .failure(ProtocolError(.badRequest, "the question holds control characters"))
        }
        guard let question = String(validating: rest, as: UTF8.self) else {
            return .failure(ProtocolError(.badRequest, "the question is not valid UTF-8"))
        }
        return .success(.command(.pollCreated(poll: poll, options: options, question: question)))
    }

    private func tail(_ tokens: inout Tokenizer, _ line: UnsafeRawBufferPointer) -> Result<Request, ProtocolError> {
        var from: UInt64?
        var poll: String?
        while let keywordRange = tokens.next() {
            let keyword = Self.uppercased(UnsafeRawBufferPointer(rebasing: line[keywordRange]))
            guard let valueRange = tokens.next() else { return .failure(usageError("TAIL")) }
            let value = UnsafeRawBufferPointer(rebasing: line[valueRange])
            switch keyword {
            case "FROM" where from == nil:
                guard value.count <= 20, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let seq = UInt64(String(decoding: value, as: UTF8.self)) else {
                    return .failure(ProtocolError(.badRequest, "FROM takes a sequence number"))
                }
                from = seq
            case "POLL" where poll == nil:
                guard let id = Self.id(line, valueRange) else { return .failure(Self.badID("poll")) }
                poll = id
            default:
                return .failure(usageError("TAIL"))
            }
        }
        return .success(.tail(from: from, poll: poll))
    }

    /// Whether the remaining arguments are exactly `*` (consuming it if so).
    private static func isOnlyStar(_ tokens: inout Tokenizer, _ line: UnsafeRawBufferPointer) -> Bool {
        var probe = tokens
        guard let range = probe.next(), range.count == 1, line[range.lowerBound] == UInt8(ascii: "*"), probe.next() == nil else {
            return false
        }
        tokens = probe
        return true
    }

    private func noArguments(_ tokens: inout Tokenizer, _ request: Request, _ verb: String) -> Result<Request, ProtocolError> {
        tokens.next() == nil ? .success(request) : .failure(usageError(verb))
    }

    /// Up to three ids, held inline: a verb's fixed arguments, without an array to allocate per line.
    private struct IDs {
        private var values = ("", "", "")
        private(set) var count = 0

        mutating func append(_ id: String) {
            switch count {
            case 0: values.0 = id
            case 1: values.1 = id
            default: values.2 = id
            }
            count += 1
        }

        subscript(index: Int) -> String {
            switch index {
            case 0: return values.0
            case 1: return values.1
            default: return values.2
            }
        }
    }

    /// Exactly `count` (1–3) ids; the first bad one is named by its place in `verb`'s usage.
    private func ids(_ tokens: inout Tokenizer, _ line: UnsafeRawBufferPointer, count: Int, _ verb: String) -> Result<IDs, ProtocolError> {
        var ids = IDs()
        while let range = tokens.next() {
            guard ids.count < count else { return .failure(usageError(verb)) }
            guard let id = Self.id(line, range) else { return .failure(Self.badID(Self.argumentName(verb, ids.count))) }
            ids.append(id)
        }
        return ids.count == count ? .success(ids) : .failure(usageError(verb))
    }

    private func idList(_ tokens: inout Tokenizer, _ line: UnsafeRawBufferPointer, _ verb: String, atLeastOne: Bool) -> Result<[String], ProtocolError> {
        var ids: [String] = []
        while let range = tokens.next() {
            guard let id = Self.id(line, range) else { return .failure(Self.badID("poll")) }
            ids.append(id)
        }
        if atLeastOne && ids.isEmpty { return .failure(usageError(verb)) }
        return .success(ids)
    }

    // MARK: - Helpers

    private func usageError(_ verb: String) -> ProtocolError {
        let syntax = Self.usage.first { $0.verb == verb }?.syntax ?? verb
        return ProtocolError(.badRequest, "usage: \(syntax)")
    }

    private static func argumentName(_ verb: String, _ index: Int) -> String {
        switch (verb, index) {
        case ("VOTE", 1), ("UNVOTE", 1): return "voter"
        case ("VOTE", 2): return "option"
        default: return "poll"
        }
    }

    private static func badID(_ what: String) -> ProtocolError {
        ProtocolError(.badRequest, "bad \(what) id: ids are 1-64 bytes of A-Z a-z 0-9 _ - . : @")
    }

    private static func id(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let bytes = UnsafeRawBufferPointer(rebasing: line[range])
        guard Identifier.isValid(bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    private static func trimmed(_ line: UnsafeRawBufferPointer, from start: Int) -> UnsafeRawBufferPointer {
        var lower = start
        var upper = line.count
        while lower < upper, isSeparator(line[lower]) { lower += 1 }
        while upper > lower, isSeparator(line[upper - 1]) { upper -= 1 }
        return UnsafeRawBufferPointer(rebasing: line[lower..<upper])
    }

    /// The word in ASCII upper case, written straight into the `String` (a small string for a
    /// verb: no allocation); the first 16 bytes and `…` for anything longer.
    private static func uppercased(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count <= 16 else { return String(decoding: bytes.prefix(16), as: UTF8.self) + "…" }
        return String(unsafeUninitializedCapacity: bytes.count) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte }
            return bytes.count
        }
    }

    /// A verb as it may safely be echoed in an error: printable ASCII only.
    private static func printable(_ verb: String) -> String {
        let safe = verb.unicodeScalars.map { $0.value >= 0x21 && $0.value < 0x7F ? Character($0) : "?" }
        return String(safe.prefix(20))
    }

    /// Yields the byte ranges of the space- or tab-separated tokens of a line.
    private struct Tokenizer {
        let line: UnsafeRawBufferPointer
        var position = 0

        init(_ line: UnsafeRawBufferPointer) { self.line = line }

        mutating func next() -> Range<Int>? {
            while position < line.count, isSeparator(line[position]) { position += 1 }
            guard position < line.count else { return nil }
            let start = position
            while position < line.count, !isSeparator(line[position]) { position += 1 }
            return start..<position
        }
    }
}
