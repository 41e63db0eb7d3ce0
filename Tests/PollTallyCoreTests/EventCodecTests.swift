import Testing
@testable import PollTallyCore

@Suite("EventCodec")
struct EventCodecTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let event: Event
        var testDescription: String { name }
    }

    static let sixtyFourOptions = (0..<64).map { "option_\($0)" }
    static let longID = String(repeating: "x", count: 64)

    static let cases: [Case] = [
        Case(name: "pollCreated with question",
             event: Event(seq: 1, timestampMs: 1_700_000_000_000,
                          body: .pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?"))),
        Case(name: "pollCreated with UTF-8 question",
             event: Event(seq: 2, timestampMs: 1_700_000_000_001,
                          body: .pollCreated(poll: "q", options: ["si", "no"], question: "¿Qué? 🍕 — ça va"))),
        Case(name: "pollCreated with empty question",
             event: Event(seq: 3, timestampMs: 0, body: .pollCreated(poll: "e", options: ["a", "b"], question: ""))),
        Case(name: "pollCreated with 64 options and 64-byte ids",
             event: Event(seq: 4, timestampMs: -1,
                          body: .pollCreated(poll: longID, options: sixtyFourOptions, question: "many"))),
        Case(name: "voteCast",
             event: Event(seq: 5, timestampMs: 1_700_000_000_000, body: .voteCast(poll: "lunch", voter: "alice", option: "pizza"))),
        Case(name: "voteCast with every id character",
             event: Event(seq: 6, timestampMs: 42,
                          body: .voteCast(poll: "AZaz09_-.:@", voter: "user@example.com", option: longID))),
        Case(name: "voteRetracted",
             event: Event(seq: 7, timestampMs: 1_700_000_000_002, body: .voteRetracted(poll: "lunch", voter: "bob"))),
        Case(name: "pollClosed",
             event: Event(seq: 8, timestampMs: 1_700_000_000_003, body: .pollClosed(poll: "lunch"))),
        Case(name: "extreme seq and time",
             event: Event(seq: .max, timestampMs: .min, body: .pollClosed(poll: "x"))),
        Case(name: "extreme seq and time (2)",
             event: Event(seq: 0, timestampMs: .max, body: .voteRetracted(poll: "p", voter: "v"))),
    ]

    @Test("round trip", arguments: cases)
    func roundTrip(_ testCase: Case) {
        let bytes = encoded(testCase.event)
        #expect(decodeResult(bytes) == .success(testCase.event))
        #expect(decodeRawResult(bytes) == .success(testCase.event))
    }

    @Test("encodedSize is the size encode writes, and write fills exactly that many bytes", arguments: cases)
    func encodedSize(_ testCase: Case) {
        let bytes = encoded(testCase.event)
        #expect(EventCodec.encodedSize(testCase.event.body) == bytes.count)
        var written = [UInt8](repeating: 0xEE, count: bytes.count + 1)
        written.withUnsafeMutableBytes { raw in
            EventCodec.write(testCase.event, to: UnsafeMutableRawBufferPointer(rebasing: raw[..<bytes.count]))
        }
        #expect(Array(written.prefix(bytes.count)) == bytes)
        #expect(written.last == 0xEE)
    }

    @Test("a vote written from its ids' bytes is the payload encode gives the same voteCast", arguments: [
        ("p", "v", "o"), ("lunch", "alice", "pizza"), (longID, longID, longID), ("a.b:c@d", "e_f-g", "9"),
    ])
    func voteFromBytes(_ poll: String, _ voter: String, _ option: String) {
        let event = Event(seq: 0x0102_0304_0506_0708, timestampMs: -5, body: .voteCast(poll: poll, voter: voter, option: option))
        let size = EventCodec.encodedVoteSize(poll: poll.utf8.count, voter: voter.utf8.count, option: option.utf8.count)
        var written = [UInt8](repeating: 0xEE, count: size)
        written.withUnsafeMutableBytes { raw in
            Array(poll.utf8).withUnsafeBytes { poll in
                Array(voter.utf8).withUnsafeBytes { voter in
                    Array(option.utf8).withUnsafeBytes { option in
                        EventCodec.writeVote(seq: event.seq, timestampMs: event.timestampMs, poll: poll, voter: voter, option: option, to: raw)
                    }
                }
            }
        }
        #expect(written == encoded(event))
    }

    @Test("encode appends to what the buffer already holds")
    func encodeAppends() {
        let event = Event(seq: 9, timestampMs: 10, body: .pollClosed(poll: "p"))
        var buffer: [UInt8] = [0xAA, 0xBB]
        EventCodec.encode(event, into: &buffer)
        #expect(Array(buffer.prefix(2)) == [0xAA, 0xBB])
        #expect(decodeResult(Array(buffer.dropFirst(2))) == .success(event))
    }

    @Test("the documented layout of pollClosed")
    func layoutPollClosed() {
        let event = Event(seq: 0x0102_0304_0506_0708, timestampMs: 0x1112_1314_1516_1718, body: .pollClosed(poll: "ab"))
        let expected: [UInt8] = [4,
                                 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                                 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
                                 2, UInt8(ascii: "a"), UInt8(ascii: "b")]
        #expect(encoded(event) == expected)
    }

    @Test("the documented layout of pollCreated, voteCast and voteRetracted")
    func layoutOthers() {
        let header: (UInt8) -> [UInt8] = { kind in [kind, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0] }
        let created = Event(seq: 1, timestampMs: 2, body: .pollCreated(poll: "p", options: ["a", "bc"], question: "é"))
        #expect(encoded(created) == header(1) + [1, 0x70, 2, 1, 0x61, 2, 0x62, 0x63, 2, 0, 0xC3, 0xA9])
        let cast = Event(seq: 1, timestampMs: 2, body: .voteCast(poll: "p", voter: "v", option: "o"))
        #expect(encoded(cast) == header(2) + [1, 0x70, 1, 0x76, 1, 0x6F])
        let retracted = Event(seq: 1, timestampMs: 2, body: .voteRetracted(poll: "p", voter: "v"))
        #expect(encoded(retracted) == header(3) + [1, 0x70, 1, 0x76])
    }

    @Test("a payload truncated at every length is refused as truncated", arguments: cases)
    func truncatedAtEveryLength(_ testCase: Case) {
        let bytes = encoded(testCase.event)
        for length in 0..<bytes.count {
            let prefix = Array(bytes.prefix(length))
            #expect(decodeResult(prefix) == .failure(.truncated), "length \(length) of \(bytes.count)")
            #expect(decodeRawResult(prefix) == .failure(.truncated), "length \(length) of \(bytes.count)")
        }
    }

    @Test("an unknown kind is refused", arguments: [UInt8(0), 5, 6, 0x7F, 0xFF])
    func unknownKind(_ kind: UInt8) {
        var bytes = encoded(Event(seq: 1, timestampMs: 2, body: .pollClosed(poll: "p")))
        bytes[0] = kind
        #expect(decodeResult(bytes) == .failure(.unknownKind(kind)))
    }

    @Test("an id that breaks the id rules is refused", arguments: [
        "", "a/b", "has space", "é", "a\u{0}b", "tab\there", "semi;colon", String(repeating: "x", count: 65),
    ])
    func invalidIdentifier(_ bad: String) {
        let bodies: [EventBody] = [
            .pollClosed(poll: bad),
            .voteRetracted(poll: "p", voter: bad),
            .voteCast(poll: "p", voter: "v", option: bad),
            .pollCreated(poll: "p", options: ["a", bad], question: ""),
            .pollCreated(poll: bad, options: ["a", "b"], question: "q"),
        ]
        for body in bodies {
            let bytes = encoded(Event(seq: 1, timestampMs: 1, body: body))
            #expect(decodeResult(bytes) == .failure(.invalidIdentifier), "\(body)")
        }
    }

    @Test("an id length byte of 65 with 65 valid bytes present is refused as invalid")
    func idLength65() {
        var bytes: [UInt8] = [4] + Array(repeating: 0, count: 16)
        bytes.append(65)
        bytes.append(contentsOf: Array(repeating: UInt8(ascii: "a"), count: 65))
        #expect(decodeResult(bytes) == .failure(.invalidIdentifier))
    }

    @Test("a question that is not valid UTF-8 is refused", arguments: [
        [UInt8(0xFF)], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x61, 0x80, 0x62],
    ])
    func invalidQuestion(_ questionBytes: [UInt8]) {
        var bytes = encoded(Event(seq: 1, timestampMs: 1, body: .pollCreated(poll: "p", options: ["a", "b"], question: "")))
        // Replace the trailing zero question length with the bad bytes.
        bytes.removeLast(2)
        bytes.append(UInt8(questionBytes.count))
        bytes.append(0)
        bytes.append(contentsOf: questionBytes)
        #expect(decodeResult(bytes) == .failure(.invalidQuestion))
    }

    @Test("trailing bytes are refused with their count", arguments: cases)
    func trailingBytes(_ testCase: Case) {
        let bytes = encoded(testCase.event)
        #expect(decodeResult(bytes + [0]) == .failure(.trailingBytes(1)))
        #expect(decodeResult(bytes + [1, 2, 3]) == .failure(.trailingBytes(3)))
        #expect(decodeRawResult(bytes + [0x41]) == .failure(.trailingBytes(1)))
    }

    @Test("a question length that claims more bytes than remain is truncated")
    func questionLengthTooLong() {
        var bytes = encoded(Event(seq: 1, timestampMs: 1, body: .pollCreated(poll: "p", options: ["a", "b"], question: "abc")))
        let lengthIndex = bytes.count - 5
        #expect(bytes[lengthIndex] == 3)
        bytes[lengthIndex] = 4
        #expect(decodeResult(bytes) == .failure(.truncated))
    }

    @Test("decoding a slice that is not at index 0 works")
    func sliceNotAtZero() {
        let event = Event(seq: 77, timestampMs: 88, body: .voteCast(poll: "p", voter: "v", option: "o"))
        let buffer = [0xEE, 0xEE, 0xEE] + encoded(event) + [0xDD]
        let slice = buffer[3..<(buffer.count - 1)]
        let result: Result<Event, EventCodec.DecodeError>
        do throws(EventCodec.DecodeError) { result = .success(try EventCodec.decode(slice)) } catch { result = .failure(error) }
        #expect(result == .success(event))
    }

    @Test("decode errors describe themselves")
    func descriptions() {
        #expect(EventCodec.DecodeError.unknownKind(9).description.contains("9"))
        #expect(EventCodec.DecodeError.trailingBytes(4).description.contains("4"))
    }
}
