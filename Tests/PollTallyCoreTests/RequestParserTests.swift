import Testing
@testable import PollTallyCore

@Suite("RequestParser")
struct RequestParserTests {
    static let parser = RequestParser()

    static func parse(_ text: String) -> Result<Request, ProtocolError>? { parser.parse(text) }
    static func parse(_ bytes: [UInt8]) -> Result<Request, ProtocolError>? { parser.parse(bytes) }

    static func code(_ result: Result<Request, ProtocolError>?) -> ErrorCode? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    // MARK: Verbs

    @Test("every verb parses", arguments: [
        ("PING", Request.ping),
        ("POLLS", .polls),
        ("STATS", .stats),
        ("HELP", .help),
        ("QUIT", .quit),
        ("VOTE lunch alice pizza", .command(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))),
        ("UNVOTE lunch alice", .command(.voteRetracted(poll: "lunch", voter: "alice"))),
        ("CLOSE lunch", .command(.pollClosed(poll: "lunch"))),
        ("TALLY lunch", .tally(poll: "lunch")),
        ("RESULTS lunch", .results(poll: "lunch")),
        ("WATCH lunch", .watch(polls: ["lunch"])),
        ("WATCH lunch dinner", .watch(polls: ["lunch", "dinner"])),
        ("UNWATCH", .unwatch(polls: [])),
        ("UNWATCH lunch dinner", .unwatch(polls: ["lunch", "dinner"])),
        ("CREATE lunch pizza,sushi", .command(.pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: ""))),
        ("CREATE lunch pizza,sushi Where shall we eat?",
         .command(.pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?"))),
    ] as [(String, Request)])
    func everyVerb(_ line: String, _ request: Request) {
        #expect(Self.parse(line) == .success(request))
    }

    @Test("verbs are case-insensitive", arguments: [
        ("vote lunch alice pizza", Request.command(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))),
        ("VoTe lunch alice pizza", .command(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))),
        ("ping", .ping), ("Ping", .ping), ("pInG", .ping),
        ("polls", .polls), ("stats", .stats), ("help", .help), ("quit", .quit),
        ("unvote p v", .command(.voteRetracted(poll: "p", voter: "v"))),
        ("close p", .command(.pollClosed(poll: "p"))),
        ("tally p", .tally(poll: "p")), ("Results p", .results(poll: "p")),
        ("watch p", .watch(polls: ["p"])), ("unWatch", .unwatch(polls: [])),
        ("create p a,b", .command(.pollCreated(poll: "p", options: ["a", "b"], question: ""))),
    ] as [(String, Request)])
    func caseInsensitive(_ line: String, _ request: Request) {
        #expect(Self.parse(line) == .success(request))
    }

    @Test("ids are not case-folded")
    func idsKeepCase() {
        #expect(Self.parse("VOTE Lunch ALICE Pizza") == .success(.command(.voteCast(poll: "Lunch", voter: "ALICE", option: "Pizza"))))
    }

    @Test("tabs and runs of spaces separate arguments", arguments: [
        "VOTE\tlunch\talice\tpizza",
        "VOTE  lunch   alice    pizza",
        "  VOTE lunch alice pizza  ",
        "\tVOTE \t lunch\t\talice \tpizza\t",
    ])
    func separators(_ line: String) {
        #expect(Self.parse(line) == .success(.command(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))))
    }

    @Test("a blank or whitespace-only line gets no reply", arguments: ["", " ", "   ", "\t", " \t \t "])
    func blank(_ line: String) {
        #expect(Self.parse(line) == nil)
    }

    @Test("the raw-buffer and array entry points agree")
    func entryPoints() {
        let bytes = Array("VOTE lunch alice pizza".utf8)
        let raw = bytes.withUnsafeBytes { Self.parser.parse($0) }
        #expect(raw == Self.parse(bytes))
        #expect(raw == .success(.command(.voteCast(poll: "lunch", voter: "alice", option: "pizza"))))
    }

    @Test("shardPoll names the poll of commands and single-poll reads, nil otherwise", arguments: [
        (Request.command(.voteCast(poll: "lunch", voter: "a", option: "b")), "lunch"),
        (.command(.pollCreated(poll: "p", options: ["a", "b"], question: "")), "p"),
        (.command(.voteRetracted(poll: "q", voter: "a")), "q"),
        (.command(.pollClosed(poll: "r")), "r"),
        (.tally(poll: "lunch"), "lunch"),
        (.results(poll: "dinner"), "dinner"),
        (.ping, nil), (.polls, nil), (.watch(polls: ["lunch"]), nil), (.unwatch(polls: ["lunch"]), nil),
        (.stats, nil), (.help, nil), (.quit, nil),
    ] as [(Request, String?)])
    func shardPoll(_ request: Request, _ poll: String?) {
        #expect(request.shardPoll == poll)
    }

    // MARK: Argument counts

    @Test("a wrong argument count is bad-request with the verb's usage", arguments: [
        ("PING now", "PING"), ("POLLS all", "POLLS"), ("STATS x", "STATS"), ("HELP me", "HELP"), ("QUIT now", "QUIT"),
        ("VOTE", "VOTE"), ("VOTE lunch", "VOTE"), ("VOTE lunch alice", "VOTE"), ("VOTE lunch alice pizza extra", "VOTE"),
        ("UNVOTE", "UNVOTE"), ("UNVOTE lunch", "UNVOTE"), ("UNVOTE lunch alice extra", "UNVOTE"),
        ("CLOSE", "CLOSE"), ("CLOSE lunch dinner", "CLOSE"),
        ("TALLY", "TALLY"), ("TALLY lunch dinner", "TALLY"),
        ("RESULTS", "RESULTS"), ("RESULTS a b", "RESULTS"),
        ("WATCH", "WATCH"), ("watch \t ", "WATCH"),
        ("CREATE", "CREATE"), ("CREATE lunch", "CREATE"), ("create lunch   ", "CREATE"),
    ] as [(String, String)])
    func wrongArgumentCount(_ line: String, _ verb: String) {
        let result = Self.parse(line)
        #expect(Self.code(result) == .badRequest)
        if case .failure(let error) = result {
            let syntax = RequestParser.usage.first { $0.verb == verb }?.syntax
            #expect(syntax != nil)
            if let syntax { #expect(error.message.contains(syntax), "\(error.message)") }
            #expect(error.line.hasPrefix("ERR bad-request "))
        }
    }

    // MARK: Ids

    @Test("an id of 1 to 64 allowed bytes is accepted", arguments: [
        "a", "Z", "0", "_", "-", ".", ":", "@", "AZaz09_-.:@", "user@example.com", String(repeating: "x", count: 64),
    ])
    func goodIDs(_ id: String) {
        #expect(Self.parse("VOTE \(id) \(id) \(id)") == .success(.command(.voteCast(poll: id, voter: id, option: id))))
        #expect(Self.parse("TALLY \(id)") == .success(.tally(poll: id)))
        #expect(Self.parse("WATCH \(id)") == .success(.watch(polls: [id])))
    }

    @Test("an id that breaks the rules is bad-request, in every position", arguments: [
        Array(String(repeating: "x", count: 65).utf8),
        Array("a/b".utf8), Array("/".utf8), Array("é".utf8), Array("caf\u{e9}".utf8),
        [0x61, 0x00, 0x62], [0x00], [0xFF], [0x61, 0x80],
        Array("a;b".utf8), Array("a\"b".utf8), Array("a\rb".utf8), Array("a\u{7F}".utf8),
        Array("a+b".utf8), Array("#".utf8),
    ] as [[UInt8]])
    func badIDs(_ id: [UInt8]) {
        let space = Array(" ".utf8)
        let lines: [[UInt8]] = [
            Array("VOTE ".utf8) + id + Array(" alice pizza".utf8),
            Array("VOTE lunch ".utf8) + id + Array(" pizza".utf8),
            Array("VOTE lunch alice ".utf8) + id,
            Array("UNVOTE ".utf8) + id + Array(" alice".utf8),
            Array("UNVOTE lunch".utf8) + space + id,
            Array("CLOSE ".utf8) + id,
            Array("TALLY ".utf8) + id,
            Array("RESULTS ".utf8) + id,
            Array("WATCH lunch ".utf8) + id,
            Array("UNWATCH ".utf8) + id,
            Array("CREATE ".utf8) + id + Array(" a,b".utf8),
            Array("CREATE lunch a,".utf8) + id,
            Array("CREATE lunch ".utf8) + id + Array(",b Question?".utf8),
        ]
        for line in lines {
            let result = Self.parse(line)
            #expect(Self.code(result) == .badRequest, "\(line)")
            if case .failure(let error) = result {
                #expect(Self.isPrintableASCII(error.message), "\(error.message)")
            }
        }
    }

    @Test("the bad-id message names which id is bad")
    func badIDNames() {
        func message(_ line: String) -> String? {
            if case .failure(let error) = Self.parse(line) { return error.message }
            return nil
        }
        #expect(message("VOTE a/b alice pizza")?.contains("poll") == true)
        #expect(message("VOTE lunch a/b pizza")?.contains("voter") == true)
        #expect(message("VOTE lunch alice a/b")?.contains("option") == true)
        #expect(message("UNVOTE lunch a/b")?.contains("voter") == true)
        #expect(message("CREATE lunch a,b/c")?.contains("option") == true)
    }

    // MARK: Unknown verbs

    @Test("an unknown verb is unknown-command", arguments: ["FOO", "foo bar", "VOTES lunch a b", "PINGPING", "V", "CREATEX a a,b"])
    func unknownVerb(_ line: String) {
        let result = Self.parse(line)
        #expect(Self.code(result) == .unknownCommand)
        if case .failure(let error) = result {
            #expect(error.line.hasPrefix("ERR unknown-command "))
            #expect(Self.isPrintableASCII(error.message))
        }
    }

    @Test("the unknown verb is named in the message")
    func unknownVerbNamed() {
        if case .failure(let error) = Self.parse("frobnicate x") {
            #expect(error.message.uppercased().contains("FROBNICATE"))
        } else {
            Issue.record("frobnicate parsed")
        }
    }

    @Test("a binary junk verb is not echoed raw: the message is printable ASCII only", arguments: [
        [0x00],
        [0x1B, 0x5B, 0x32, 0x4A],                               // ESC [ 2 J
        [0xFF, 0xFE, 0xFD],
        [0xC3, 0xA9, 0x76, 0x6F, 0x74, 0x65],                   // "évote"
        [0x50, 0x49, 0x4E, 0x47, 0x00],                         // "PING\0"
        [0x07, 0x08, 0x0D, 0x7F, 0x80, 0x9B],
        Array(repeating: 0xE2, count: 100),                     // long, truncated mid-character
        (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 0x80) },
        Array("\u{1B}]0;pwned\u{07}".utf8),
        Array("\u{202E}KCAP".utf8),                             // right-to-left override
    ] as [[UInt8]])
    func binaryJunkVerb(_ verb: [UInt8]) {
        let result = Self.parse(verb + Array(" lunch".utf8))
        #expect(Self.code(result) == .unknownCommand)
        if case .failure(let error) = result {
            #expect(Self.isPrintableASCII(error.message), "\(error.message.debugDescription)")
            #expect(Self.isPrintableASCII(error.line))
            #expect(error.message.utf8.count < 100)
        }
    }

    // MARK: CREATE

    @Test("CREATE splits options on commas")
    func createOptions() {
        #expect(Self.parse("CREATE p a,b,c") == .success(.command(.pollCreated(poll: "p", options: ["a", "b", "c"], question: ""))))
    }

    @Test("CREATE with one option parses; the projection's decide is what rejects it")
    func createOneOption() {
        let result = Self.parse("CREATE lunch pizza")
        #expect(result == .success(.command(.pollCreated(poll: "lunch", options: ["pizza"], question: ""))))
        if case .success(.command(let body)) = result {
            #expect(Projection().decide(body) == .rejected(.tooFewOptions))
        }
    }

    @Test("CREATE with a repeated option parses; decide rejects it")
    func createRepeated() {
        let result = Self.parse("CREATE lunch a,b,a")
        #expect(result == .success(.command(.pollCreated(poll: "lunch", options: ["a", "b", "a"], question: ""))))
    }

    @Test("CREATE with an empty option is bad-request", arguments: [
        "CREATE p a,,b", "CREATE p ,a,b", "CREATE p a,b,", "CREATE p ,", "CREATE p ,,", "CREATE p a,b, question",
    ])
    func createEmptyOption(_ line: String) {
        #expect(Self.code(Self.parse(line)) == .badRequest)
    }

    @Test("CREATE trims the question and keeps its inner spacing", arguments: [
        ("CREATE p a,b Where?", "Where?"),
        ("CREATE p a,b    Where?   ", "Where?"),
        ("CREATE p a,b\tWhere?\t", "Where?"),
        ("CREATE p a,b  Where  shall   we eat? ", "Where  shall   we eat?"),
        ("CREATE p a,b ¿Qué? 🍕", "¿Qué? 🍕"),
        ("CREATE p a,b END", "END"),
        ("CREATE p a,b    ", ""),
        ("CREATE p a,b \t ", ""),
    ] as [(String, String)])
    func createQuestion(_ line: String, _ question: String) {
        #expect(Self.parse(line) == .success(.command(.pollCreated(poll: "p", options: ["a", "b"], question: question))))
    }

    @Test("a question that is not valid UTF-8 is bad-request", arguments: [
        [0xFF], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x61, 0x80, 0x62], [0xF4, 0x90, 0x80, 0x80],
    ] as [[UInt8]])
    func questionInvalidUTF8(_ bytes: [UInt8]) {
        let result = Self.parse(Array("CREATE p a,b Why ".utf8) + bytes + Array(" now".utf8))
        #expect(Self.code(result) == .badRequest)
        if case .failure(let error) = result { #expect(Self.isPrintableASCII(error.message)) }
    }

    @Test("a question with a control character is bad-request", arguments: [
        UInt8(0x00), 0x01, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B, 0x1F, 0x7F,
    ])
    func questionControlCharacter(_ byte: UInt8) {
        let result = Self.parse(Array("CREATE p a,b Why ".utf8) + [byte] + Array(" now".utf8))
        #expect(Self.code(result) == .badRequest)
        let atEnd = Self.parse(Array("CREATE p a,b Why".utf8) + [byte])
        #expect(Self.code(atEnd) == .badRequest)
    }

    @Test("a question of 1024 bytes is accepted, 1025 is bad-request (counted in bytes, after trimming)")
    func questionLength() {
        let ascii1024 = String(repeating: "q", count: 1024)
        #expect(Self.parse("CREATE p a,b \(ascii1024)") == .success(.command(.pollCreated(poll: "p", options: ["a", "b"], question: ascii1024))))
        #expect(Self.parse("CREATE p a,b    \(ascii1024)    ") == .success(.command(.pollCreated(poll: "p", options: ["a", "b"], question: ascii1024))))
        #expect(Self.code(Self.parse("CREATE p a,b \(ascii1024)q")) == .badRequest)
        let twoByte512 = String(repeating: "é", count: 512)
        #expect(twoByte512.utf8.count == 1024)
        #expect(Self.parse("CREATE p a,b \(twoByte512)") == .success(.command(.pollCreated(poll: "p", options: ["a", "b"], question: twoByte512))))
        #expect(Self.code(Self.parse("CREATE p a,b \(twoByte512)x")) == .badRequest)
        #expect(Self.code(Self.parse("CREATE p a,b \(String(repeating: "é", count: 600))")) == .badRequest)
    }

    @Test("the question limit is configurable")
    func questionLimitConfigurable() {
        let parser = RequestParser(maxQuestionBytes: 5)
        #expect(parser.parse("CREATE p a,b 12345") == .success(.command(.pollCreated(poll: "p", options: ["a", "b"], question: "12345"))))
        #expect(Self.code(parser.parse("CREATE p a,b 123456")) == .badRequest)
    }

    @Test("64 options are accepted, 65 are bad-request")
    func optionLimit() {
        let sixtyFour = (0..<64).map { "o\($0)" }
        #expect(Self.parse("CREATE p \(sixtyFour.joined(separator: ","))")
            == .success(.command(.pollCreated(poll: "p", options: sixtyFour, question: ""))))
        let sixtyFive = sixtyFour + ["o64"]
        #expect(Self.code(Self.parse("CREATE p \(sixtyFive.joined(separator: ","))")) == .badRequest)
        let many = (0..<500).map { "o\($0)" }
        #expect(Self.code(Self.parse("CREATE p \(many.joined(separator: ",")) Question")) == .badRequest)
    }

    @Test("the option limit is configurable")
    func optionLimitConfigurable() {
        let parser = RequestParser(maxOptions: 3)
        #expect(parser.parse("CREATE p a,b,c") == .success(.command(.pollCreated(poll: "p", options: ["a", "b", "c"], question: ""))))
        #expect(Self.code(parser.parse("CREATE p a,b,c,d")) == .badRequest)
    }

    // MARK: WATCH / UNWATCH

    @Test("WATCH needs at least one poll; UNWATCH takes none or many")
    func watchUnwatch() {
        #expect(Self.code(Self.parse("WATCH")) == .badRequest)
        #expect(Self.parse("UNWATCH") == .success(.unwatch(polls: [])))
        #expect(Self.parse("unwatch  \t ") == .success(.unwatch(polls: [])))
        let many = (0..<20).map { "p\($0)" }
        #expect(Self.parse("WATCH \(many.joined(separator: " "))") == .success(.watch(polls: many)))
        #expect(Self.parse("UNWATCH \(many.joined(separator: "\t"))") == .success(.unwatch(polls: many)))
    }

    // MARK: HELP agrees with the parser

    @Test("every verb in the usage table parses as a known verb", arguments: RequestParser.usage.map(\.verb))
    func usageVerbsAreKnown(_ verb: String) {
        #expect(Self.code(Self.parse(verb)) != .unknownCommand)
        #expect(Self.code(Self.parse(verb.lowercased())) != .unknownCommand)
    }
}

// MARK: - WATCH * / UNWATCH * / TAIL

extension RequestParserTests {
    @Test("WATCH * watches every poll; UNWATCH * stops everything", arguments: [
        ("WATCH *", Request.watchAll),
        ("watch *", .watchAll),
        ("  WATCH \t*  ", .watchAll),
        ("UNWATCH *", .unwatch(polls: [])),
        ("unwatch\t*", .unwatch(polls: [])),
    ] as [(String, Request)])
    func watchStar(_ line: String, _ request: Request) {
        #expect(Self.parse(line) == .success(request))
    }

    @Test("a star mixed with polls, or glued to something, is a bad poll id", arguments: [
        "WATCH * lunch", "WATCH lunch *", "WATCH **", "WATCH *lunch", "UNWATCH * lunch", "UNWATCH lunch *",
    ])
    func starMixedWithPolls(_ line: String) {
        #expect(Self.code(Self.parse(line)) == .badRequest)
    }

    @Test("TAIL takes FROM and POLL in either order, each optional", arguments: [
        ("TAIL", Request.tail(from: nil, poll: nil)),
        ("tail", .tail(from: nil, poll: nil)),
        ("TAIL FROM 5", .tail(from: 5, poll: nil)),
        ("TAIL from 5", .tail(from: 5, poll: nil)),
        ("TAIL FROM 0", .tail(from: 0, poll: nil)),
        ("TAIL FROM 18446744073709551615", .tail(from: UInt64.max, poll: nil)),
        ("TAIL POLL p", .tail(from: nil, poll: "p")),
        ("TAIL poll Lunch", .tail(from: nil, poll: "Lunch")),
        ("TAIL FROM 5 POLL p", .tail(from: 5, poll: "p")),
        ("TAIL POLL p FROM 5", .tail(from: 5, poll: "p")),
        ("TAIL\tFROM  5 \t POLL\tp  ", .tail(from: 5, poll: "p")),
    ] as [(String, Request)])
    func tail(_ line: String, _ request: Request) {
        #expect(Self.parse(line) == .success(request))
    }

    @Test("TAIL is answered by the connection, not a shard")
    func tailHasNoShard() {
        #expect(Request.tail(from: 5, poll: "p").shardPoll == nil)
        #expect(Request.watchAll.shardPoll == nil)
    }

    @Test("bad TAIL forms are bad-request", arguments: [
        "TAIL FROM x", "TAIL FROM", "TAIL FOO 1", "TAIL FROM -1", "TAIL FROM 1.5", "TAIL FROM 5x",
        "TAIL FROM 18446744073709551616", "TAIL FROM 123456789012345678901",
        "TAIL POLL", "TAIL POLL bad/id", "TAIL FROM 1 FROM 2", "TAIL POLL p POLL q",
        "TAIL FROM 5 POLL p extra", "TAIL 5", "TAIL p",
    ])
    func badTail(_ line: String) {
        #expect(Self.code(Self.parse(line)) == .badRequest, "\(line)")
    }

    @Test("the TAIL usage message names the syntax", arguments: ["TAIL FROM", "TAIL FOO 1", "TAIL POLL"])
    func tailUsage(_ line: String) {
        guard case .failure(let error) = Self.parse(line) else {
            Issue.record("\(line) parsed")
            return
        }
        #expect(error.message.contains("TAIL [FROM <seq>] [POLL <poll>]"), "\(error.message)")
    }

    @Test("TAIL FROM x says FROM takes a sequence number")
    func tailFromNotANumber() {
        guard case .failure(let error) = Self.parse("TAIL FROM x") else {
            Issue.record("TAIL FROM x parsed")
            return
        }
        #expect(error.code == .badRequest)
        #expect(error.message.contains("FROM takes a sequence number"), "\(error.message)")
    }
}
