import Testing
import PollTallyTestSupport
@testable import PollTallyCore

@Suite("EventView")
struct EventViewTests {
    /// The bytes allowed in an id.
    static let idAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@".utf8)

    /// Every byte value that may not appear in an id.
    static let forbidden: [UInt8] = (0...255).map(UInt8.init).filter { !Identifier.isAllowed($0) }

    /// A random valid id of 1–64 bytes (lengths 1 and 64 often).
    static func randomID(_ rng: inout SplitMix64) -> String {
        let length: Int
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: length = 1
        case 1: length = Identifier.maxLength
        default: length = Int.random(in: 1...Identifier.maxLength, using: &rng)
        }
        return String(decoding: (0..<length).map { _ in idAlphabet.randomElement(using: &rng)! }, as: UTF8.self)
    }

    /// A random event of `kind` (1–4) with random ids, seq and time (extremes included).
    static func randomEvent(kind: Int, _ rng: inout SplitMix64) -> Event {
        let seqs: [UInt64] = [0, 1, UInt64.max, UInt64(UInt32.max) + 1, UInt64.random(in: 0...UInt64.max, using: &rng)]
        let times: [Int64] = [0, -1, Int64.min, Int64.max, Int64.random(in: Int64.min...Int64.max, using: &rng)]
        let body: EventBody
        switch kind {
        case 1:
            let options = (0..<Int.random(in: 0...5, using: &rng)).map { _ in randomID(&rng) }
            body = .pollCreated(poll: randomID(&rng), options: options, question: Bool.random(using: &rng) ? "" : "Why? ✓")
        case 2: body = .voteCast(poll: randomID(&rng), voter: randomID(&rng), option: randomID(&rng))
        case 3: body = .voteRetracted(poll: randomID(&rng), voter: randomID(&rng))
        default: body = .pollClosed(poll: randomID(&rng))
        }
        return Event(seq: seqs.randomElement(using: &rng)!, timestampMs: times.randomElement(using: &rng)!, body: body)
    }

    /// What a view of `bytes` read, as plain values (or the error).
    struct Read: Equatable, CustomStringConvertible {
        var kind: UInt8
        var seq: UInt64
        var timestampMs: Int64
        var poll: String
        var voter: String?
        var option: String?

        var description: String { "kind \(kind) seq \(seq) time \(timestampMs) \(poll) \(voter ?? "-") \(option ?? "-")" }
    }

    static func view(_ bytes: [UInt8]) -> Result<Read, EventCodec.DecodeError> {
        bytes.withUnsafeBytes { raw in
            do throws(EventCodec.DecodeError) {
                let view = try EventView(raw)
                func text(_ range: Range<Int>) -> String { String(decoding: raw[range], as: UTF8.self) }
                // Ranges must lie within the payload; empty ranges stand for "no such id".
                #expect(view.poll.lowerBound >= EventView.headSize && view.poll.upperBound <= raw.count)
                #expect(view.voter.upperBound <= raw.count && view.option.upperBound <= raw.count)
                return .success(Read(kind: view.kind.rawValue, seq: view.seq, timestampMs: view.timestampMs, poll: text(view.poll),
                                     voter: view.voter.isEmpty ? nil : text(view.voter),
                                     option: view.option.isEmpty ? nil : text(view.option)))
            } catch {
                return .failure(error)
            }
        }
    }

    /// What a full decode of `bytes` gives, in the shape of `Read`.
    static func decoded(_ bytes: [UInt8]) -> Result<Read, EventCodec.DecodeError> {
        decodeRawResult(bytes).map { event in
            switch event.body {
            case .pollCreated(let poll, _, _):
                return Read(kind: 1, seq: event.seq, timestampMs: event.timestampMs, poll: poll, voter: nil, option: nil)
            case .voteCast(let poll, let voter, let option):
                return Read(kind: 2, seq: event.seq, timestampMs: event.timestampMs, poll: poll, voter: voter, option: option)
            case .voteRetracted(let poll, let voter):
                return Read(kind: 3, seq: event.seq, timestampMs: event.timestampMs, poll: poll, voter: voter, option: nil)
            case .pollClosed(let poll):
                return Read(kind: 4, seq: event.seq, timestampMs: event.timestampMs, poll: poll, voter: nil, option: nil)
            }
        }
    }

    static func seq(_ bytes: [UInt8]) -> UInt64? {
        bytes.withUnsafeBytes { EventView.seq(of: $0) }
    }

    /// Where each id of an encoded vote, retraction or close starts (its length byte) and ends.
    static func idSpans(_ bytes: [UInt8], count: Int) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var offset = EventView.headSize
        for _ in 0..<count {
            let end = offset + 1 + Int(bytes[offset])
            spans.append(offset..<end)
            offset = end
        }
        return spans
    }

    /// The number of ids a view checks for a kind.
    static func idCount(kind: Int) -> Int { [0, 1, 3, 2, 1][kind] }

    @Test("a view of any encoded event reads the same kind, seq, time and ids as decode", arguments: 1...4)
    func matchesDecode(_ kind: Int) {
        var rng = SplitMix64(seed: 100 + UInt64(kind))
        for _ in 0..<500 {
            let event = Self.randomEvent(kind: kind, &rng)
            let bytes = encoded(event)
            let view = Self.view(bytes)
            #expect(view == Self.decoded(bytes), "\(event)")
            #expect((try? view.get())?.kind == UInt8(kind))
            #expect(Self.seq(bytes) == event.seq)
        }
    }

    @Test("kinds without a voter or option give empty ranges at the end of what was read")
    func emptyRanges() {
        let close = encoded(Event(seq: 9, timestampMs: 1, body: .pollClosed(poll: "lunch")))
        close.withUnsafeBytes { raw in
            let view = try? EventView(raw)
            #expect(view?.poll == 18..<23)
            #expect(view?.voter.isEmpty == true && view?.option.isEmpty == true)
        }
        let retract = encoded(Event(seq: 9, timestampMs: 1, body: .voteRetracted(poll: "lunch", voter: "ann")))
        retract.withUnsafeBytes { raw in
            let view = try? EventView(raw)
            #expect(view?.poll == 18..<23 && view?.voter == 24..<27)
            #expect(view?.option.isEmpty == true)
        }
        let vote = encoded(Event(seq: 9, timestampMs: 1, body: .voteCast(poll: "lunch", voter: "ann", option: "pizza")))
        vote.withUnsafeBytes { raw in
            let view = try? EventView(raw)
            #expect(view?.poll == 18..<23 && view?.voter == 24..<27 && view?.option == 28..<33)
            #expect(view?.kind == .voteCast && view?.seq == 9 && view?.timestampMs == 1)
        }
    }

    @Test("every truncation of a vote, retraction or close fails as decode does", arguments: 2...4)
    func truncations(_ kind: Int) {
        var rng = SplitMix64(seed: 200 + UInt64(kind))
        for _ in 0..<40 {
            let bytes = encoded(Self.randomEvent(kind: kind, &rng))
            for length in 0..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                let view = Self.view(prefix)
                #expect(view == Self.decoded(prefix), "length \(length) of \(bytes.count)")
                #expect(view == .failure(.truncated), "length \(length) of \(bytes.count)")
            }
        }
    }

    @Test("a creation's view checks its head and poll id as decode does, and no further")
    func creationTruncations() {
        var rng = SplitMix64(seed: 300)
        for _ in 0..<40 {
            let event = Self.randomEvent(kind: 1, &rng)
            let bytes = encoded(event)
            let pollEnd = EventView.headSize + 1 + Int(bytes[EventView.headSize])
            for length in 0..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                let view = Self.view(prefix)
                if length < pollEnd {
                    #expect(view == Self.decoded(prefix), "length \(length)")
                    #expect(view == .failure(.truncated))
                } else {
                    // The options and question are left to EventCodec.decode.
                    #expect(Self.decoded(prefix) == .failure(.truncated))
                    #expect((try? view.get())?.poll == event.body.poll, "length \(length)")
                }
            }
        }
    }

    @Test("an unknown kind byte is refused as decode refuses it, and seq(of:) says nil")
    func unknownKinds() {
        let valid = encoded(Event(seq: 42, timestampMs: 7, body: .pollClosed(poll: "p")))
        for kind in [UInt8(0), 5, 6, 127, 128, 255] {
            var bytes = valid
            bytes[0] = kind
            #expect(Self.view(bytes) == .failure(.unknownKind(kind)))
            #expect(Self.view(bytes) == Self.decoded(bytes))
            #expect(Self.seq(bytes) == nil)
            // Too short for a head: truncated comes first, for both.
            let short = Array(bytes.prefix(EventView.headSize - 1))
            #expect(Self.view(short) == .failure(.truncated) && Self.decoded(short) == .failure(.truncated))
        }
        #expect(Self.seq(valid) == 42)
        #expect(Self.seq(Array(valid.prefix(EventView.headSize))) == 42)
        #expect(Self.seq(Array(valid.prefix(EventView.headSize - 1))) == nil)
        #expect(Self.seq([]) == nil)
    }

    @Test("a forbidden byte anywhere in any id fails as decode does", arguments: 1...4)
    func forbiddenBytes(_ kind: Int) {
        var rng = SplitMix64(seed: 400 + UInt64(kind))
        for _ in 0..<20 {
            let bytes = encoded(Self.randomEvent(kind: kind, &rng))
            for span in Self.idSpans(bytes, count: Self.idCount(kind: kind)) {
                for position in span.dropFirst() {
                    for byte in [Self.forbidden.randomElement(using: &rng)!, 0, 0x20, 0xFF, UInt8(ascii: "/")] {
                        var bad = bytes
                        bad[position] = byte
                        let view = Self.view(bad)
                        #expect(view == .failure(.invalidIdentifier), "byte \(byte) at \(position)")
                        #expect(view == Self.decoded(bad))
                    }
                }
            }
        }
    }

    @Test("every length byte of every id, 0 to 255, is judged as decode judges it", arguments: 1...4)
    func idLengths(_ kind: Int) {
        var rng = SplitMix64(seed: 500 + UInt64(kind))
        var outcomes: Set<String> = []
        for _ in 0..<8 {
            var bytes = encoded(Self.randomEvent(kind: kind, &rng))
            // Room for a long id to be read in full, so lengths over 64 are seen as such, not as truncation.
            if kind != 1 && Bool.random(using: &rng) { bytes += Array(repeating: UInt8(ascii: "a"), count: 200) }
            for span in Self.idSpans(bytes, count: Self.idCount(kind: kind)) {
                for length in 0...255 {
                    var bad = bytes
                    bad[span.lowerBound] = UInt8(length)
                    let view = Self.view(bad)
                    let decode = Self.decoded(bad)
                    if kind == 1 {
                        // A creation's view reads the poll id only: its verdict on it must be decode's.
                        switch view {
                        case .failure(let error): #expect(decode == .failure(error), "length \(length)")
                        case .success(let read): if case .success(let full) = decode { #expect(read == full) }
                        }
                        if length == 0 || length > Identifier.maxLength { #expect(view == .failure(length + 18 > bad.count ? .truncated : .invalidIdentifier)) }
                    } else {
                        #expect(view == decode, "kind \(kind) length \(length) at \(span.lowerBound)")
                    }
                    switch view {
                    case .success: outcomes.insert("ok")
                    case .failure(let error): outcomes.insert("\(error)")
                    }
                }
            }
        }
        // The sweep reached every verdict an id's length can give.
        #expect(outcomes.contains("ok") && outcomes.contains("\(EventCodec.DecodeError.truncated)")
            && outcomes.contains("\(EventCodec.DecodeError.invalidIdentifier)"), "\(outcomes)")
    }

    @Test("trailing bytes after a vote, retraction or close are counted as decode counts them", arguments: 2...4)
    func trailingBytes(_ kind: Int) {
        var rng = SplitMix64(seed: 600 + UInt64(kind))
        for _ in 0..<20 {
            let bytes = encoded(Self.randomEvent(kind: kind, &rng))
            for extra in [1, 2, 3, 8, 64, 300] {
                let padded = bytes + (0..<extra).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let view = Self.view(padded)
                #expect(view == .failure(.trailingBytes(extra)))
                #expect(view == Self.decoded(padded))
            }
        }
    }

    @Test("random damage to any byte of any kind: whatever decode says of a vote, retraction or close, the view says")
    func randomDamage() {
        var rng = SplitMix64(seed: 700)
        var failures = 0
        for _ in 0..<4000 {
            let kind = Int.random(in: 2...4, using: &rng)
            var bytes = encoded(Self.randomEvent(kind: kind, &rng))
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[position] = UInt8.random(in: 0...255, using: &rng)
            }
            if bytes[0] == 1 { continue }  // now a creation, checked only as far as its poll id
            let view = Self.view(bytes)
            #expect(view == Self.decoded(bytes), "\(bytes)")
            if case .failure = view { failures += 1 }
        }
        #expect(failures > 500)
    }
}
