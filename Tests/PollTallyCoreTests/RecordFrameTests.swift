import Testing
@testable import PollTallyCore

@Suite("RecordFrame")
struct RecordFrameTests {
    static let events: [Event] = [
        Event(seq: 1, timestampMs: 1_700_000_000_000,
              body: .pollCreated(poll: "lunch", options: ["pizza", "sushi"], question: "Where shall we eat?")),
        Event(seq: 2, timestampMs: 1_700_000_000_001, body: .voteCast(poll: "lunch", voter: "alice", option: "pizza")),
        Event(seq: 3, timestampMs: 1_700_000_000_002, body: .voteRetracted(poll: "lunch", voter: "alice")),
        Event(seq: 4, timestampMs: 1_700_000_000_003, body: .pollClosed(poll: "lunch")),
    ]

    static func frame(_ event: Event) -> [UInt8] {
        var buffer: [UInt8] = []
        RecordFrame.append(event, to: &buffer)
        return buffer
    }

    static func scan(_ bytes: [UInt8], at offset: Int = 0) -> RecordFrame.Scan {
        bytes.withUnsafeBytes { RecordFrame.scan($0, at: offset) }
    }

    static func isRecord(_ scan: RecordFrame.Scan) -> Bool {
        if case .record = scan { return true }
        return false
    }

    @Test("skip goes by the frame alone: a damaged payload is skipped, an impossible or cut length is not")
    func skip() {
        let bytes = Self.events.flatMap(Self.frame)
        func skip(_ bytes: [UInt8], at offset: Int) -> (payload: Range<Int>, next: Int)? {
            bytes.withUnsafeBytes { RecordFrame.skip($0, at: offset) }
        }
        // Record by record, the same payloads and next offsets as scan.
        var offset = 0
        for _ in Self.events {
            guard case .record(let payload, let next) = Self.scan(bytes, at: offset), let skipped = skip(bytes, at: offset) else {
                Issue.record("no record at \(offset)")
                return
            }
            #expect(skipped.payload == payload && skipped.next == next)
            offset = next
        }
        #expect(skip(bytes, at: offset) == nil)
        var damaged = bytes
        damaged[RecordFrame.headerSize + 3] ^= 0x40
        #expect(!Self.isRecord(Self.scan(damaged)) && skip(damaged, at: 0)?.next == skip(bytes, at: 0)?.next)
        for length: [UInt8] in [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0x7F], [0xFF, 0xFF, 0, 0]] {
            var wrong = bytes
            wrong.replaceSubrange(0..<4, with: length)
            #expect(skip(wrong, at: 0) == nil, "length \(length)")
        }
        #expect(skip(Array(bytes.prefix(RecordFrame.headerSize + 2)), at: 0) == nil)
    }

    @Test("append writes length, CRC32C(length bytes + payload), payload", arguments: events)
    func layout(_ event: Event) {
        let bytes = Self.frame(event)
        let payload = encoded(event)
        #expect(bytes.count == RecordFrame.headerSize + payload.count)
        let lengthBytes = Array(bytes[0..<4])
        let length = UInt32(lengthBytes[0]) | UInt32(lengthBytes[1]) << 8 | UInt32(lengthBytes[2]) << 16 | UInt32(lengthBytes[3]) << 24
        #expect(Int(length) == payload.count)
        let storedCRC = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        #expect(storedCRC == CRC32C.checksum(lengthBytes + payload))
        #expect(Array(bytes[8...]) == payload)
    }

    @Test("append then scan returns the record with the right ranges", arguments: events)
    func appendThenScan(_ event: Event) {
        let bytes = Self.frame(event)
        let scan = Self.scan(bytes)
        #expect(scan == .record(payload: RecordFrame.headerSize..<bytes.count, next: bytes.count))
        if case .record(let payload, _) = scan {
            #expect(decodeResult(Array(bytes[payload])) == .success(event))
        }
    }

    @Test("records appended one after another scan in sequence, each at its offset")
    func sequence() {
        var buffer: [UInt8] = [0xAB, 0xCD, 0xEF] // unrelated bytes before the first record
        var starts: [Int] = []
        for event in Self.events {
            starts.append(buffer.count)
            RecordFrame.append(event, to: &buffer)
        }
        var offset = 3
        var decoded: [Event] = []
        for (index, start) in starts.enumerated() {
            #expect(offset == start)
            let scan = Self.scan(buffer, at: offset)
            guard case .record(let payload, let next) = scan else {
                Issue.record("record \(index) at \(offset): \(scan)")
                return
            }
            #expect(payload.lowerBound == offset + RecordFrame.headerSize)
            #expect(payload.upperBound == next)
            if case .success(let event) = decodeResult(Array(buffer[payload])) { decoded.append(event) }
            offset = next
        }
        #expect(offset == buffer.count)
        #expect(decoded == Self.events)
        #expect(Self.scan(buffer, at: offset) == .incomplete)
    }

    @Test("a vote's record appended from its ids' bytes is the record of the same voteCast event")
    func appendVote() {
        let event = Event(seq: 77, timestampMs: 1_700_000_000_123, body: .voteCast(poll: "lunch", voter: "alice", option: "pizza"))
        var buffer: [UInt8] = [1, 2, 3]
        Array("lunch".utf8).withUnsafeBytes { poll in
            Array("alice".utf8).withUnsafeBytes { voter in
                Array("pizza".utf8).withUnsafeBytes { option in
                    RecordFrame.appendVote(seq: 77, timestampMs: 1_700_000_000_123, poll: poll, voter: voter, option: option, to: &buffer)
                }
            }
        }
        #expect(Array(buffer.prefix(3)) == [1, 2, 3])
        #expect(Array(buffer.dropFirst(3)) == Self.frame(event))
    }

    @Test("the generic append writes a verifiable record of arbitrary payload")
    func genericAppend() {
        var buffer: [UInt8] = [1, 2]
        RecordFrame.append(to: &buffer) { $0.append(contentsOf: [9, 8, 7]) }
        #expect(buffer.count == 2 + 8 + 3)
        #expect(Self.scan(buffer, at: 2) == .record(payload: 10..<13, next: 13))
        #expect(Array(buffer[10..<13]) == [9, 8, 7])
    }

    @Test("a frame cut at every byte length is incomplete", arguments: events)
    func cutAtEveryLength(_ event: Event) {
        let bytes = Self.frame(event)
        for length in 0..<bytes.count {
            #expect(Self.scan(Array(bytes.prefix(length))) == .incomplete, "cut at \(length) of \(bytes.count)")
        }
        // Also when the record is preceded by another record.
        let two = Self.frame(Self.events[0]) + bytes
        let start = two.count - bytes.count
        for length in start..<two.count {
            #expect(Self.scan(Array(two.prefix(length)), at: start) == .incomplete, "cut at \(length)")
        }
    }

    @Test("any single bit flip in a record is corrupt or incomplete, never a record", arguments: events)
    func bitFlips(_ event: Event) {
        let bytes = Self.frame(event)
        for byteIndex in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[byteIndex] ^= UInt8(1) << UInt8(bit)
                let scan = Self.scan(damaged)
                #expect(!Self.isRecord(scan), "flip bit \(bit) of byte \(byteIndex): \(scan)")
                if byteIndex >= 4 {
                    // The length is intact, so only the checksum can catch it.
                    #expect(scan == .corrupt(.badChecksum), "flip bit \(bit) of byte \(byteIndex)")
                }
            }
        }
    }

    @Test("a bit flip is caught even with more data after the record")
    func bitFlipsWithFollowingData() {
        let first = Self.frame(Self.events[1])
        let buffer = first + Self.frame(Self.events[2]) + Array(repeating: 0x55, count: 64)
        for byteIndex in first.indices {
            for bit in 0..<8 {
                var damaged = buffer
                damaged[byteIndex] ^= UInt8(1) << UInt8(bit)
                #expect(!Self.isRecord(Self.scan(damaged)), "flip bit \(bit) of byte \(byteIndex)")
            }
        }
    }

    @Test("a zero length is corrupt (badLength)")
    func zeroLength() {
        #expect(Self.scan(Array(repeating: 0, count: 8)) == .corrupt(.badLength(0)))
        #expect(Self.scan(Array(repeating: 0, count: 64)) == .corrupt(.badLength(0)))
        // Zero length even with a checksum that matches an empty payload.
        var bytes: [UInt8] = [0, 0, 0, 0]
        var crc = CRC32C.checksum(bytes)
        withUnsafeBytes(of: &crc) { bytes.append(contentsOf: $0) }
        #expect(Self.scan(bytes) == .corrupt(.badLength(0)))
    }

    @Test("a length over maxPayload is corrupt (badLength), not incomplete")
    func overMaxPayload() {
        let tooBig = UInt32(RecordFrame.maxPayload + 1)
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(tooBig)
        bytes.appendLittleEndian(UInt32(0))
        #expect(Self.scan(bytes) == .corrupt(.badLength(tooBig)))
        var huge: [UInt8] = []
        huge.appendLittleEndian(UInt32.max)
        huge.appendLittleEndian(UInt32(0))
        #expect(Self.scan(huge) == .corrupt(.badLength(.max)))
    }

    @Test("a length of exactly maxPayload with too few bytes is incomplete")
    func maxPayloadIncomplete() {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(RecordFrame.maxPayload))
        bytes.appendLittleEndian(UInt32(0))
        bytes.append(contentsOf: [1, 2, 3])
        #expect(Self.scan(bytes) == .incomplete)
    }

    @Test("scanning at or past the end is incomplete")
    func pastTheEnd() {
        let bytes = Self.frame(Self.events[3])
        #expect(Self.scan(bytes, at: bytes.count) == .incomplete)
        #expect(Self.scan(bytes, at: bytes.count + 5) == .incomplete)
        #expect(Self.scan([], at: 0) == .incomplete)
    }

    @Test("swapping payloads between two valid records breaks both checksums")
    func swappedPayloads() {
        let a = Self.frame(Event(seq: 1, timestampMs: 1, body: .pollClosed(poll: "aa")))
        let b = Self.frame(Event(seq: 1, timestampMs: 1, body: .pollClosed(poll: "bb")))
        #expect(a.count == b.count)
        let mixed = Array(a[0..<8]) + Array(b[8...])
        #expect(Self.scan(mixed) == .corrupt(.badChecksum))
    }

    @Test("reasons describe themselves")
    func reasonDescriptions() {
        #expect(RecordFrame.Reason.badLength(7).description.contains("7"))
        #expect(RecordFrame.Reason.badChecksum.description.contains("checksum"))
    }
}
