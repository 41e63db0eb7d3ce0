/// The text form of events shared by `polltally dump` and `TAIL`:
/// `EVENT <seq> <unix-ms> <KIND> <args…>`, where KIND and args mirror the command that made it.
public enum EventText {
    /// Renders `event` as one line, without the trailing newline.
    public static func line(_ event: Event) -> String {
        "EVENT \(event.seq) \(event.timestampMs) " + command(event.body)
    }

    /// Appends `line(event)` and a newline for the event whose payload is `payload`, `view` read
    /// from it: straight from the payload's bytes for a vote, a retraction or a close, with no
    /// `String` (a `TAIL` catching up renders millions of them); a poll's creation, rare, through
    /// `EventCodec.decode`, whose error it throws.
    public static func appendLine(payload: UnsafeRawBufferPointer, view: EventView, to out: inout [UInt8]) throws(EventCodec.DecodeError) {
        let word: [UInt8]
        switch view.kind {
        case .pollCreated:
            out.append(contentsOf: line(try EventCodec.decode(payload)).utf8)
            out.append(UInt8(ascii: "\n"))
            return
        case .voteCast: word = Words.vote
        case .voteRetracted: word = Words.unvote
        case .pollClosed: word = Words.close
        }
        out.append(contentsOf: Words.event)
        appendDecimal(view.seq, to: &out)
        out.append(UInt8(ascii: " "))
        if view.timestampMs < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(view.timestampMs.magnitude, to: &out)
        out.append(contentsOf: word)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[view.poll]))
        if !view.voter.isEmpty {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[view.voter]))
        }
        if !view.option.isEmpty {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[view.option]))
        }
        out.append(UInt8(ascii: "\n"))
    }

    private enum Words {
        static let event = Array("EVENT ".utf8)
        static let vote = Array(" VOTE ".utf8)
        static let unvote = Array(" UNVOTE ".utf8)
        static let close = Array(" CLOSE ".utf8)
    }

    /// Appends `value` in decimal: two digits per division, written from the end of a buffer on
    /// the stack and appended in one piece (a line has two long numbers, the seq and the time).
    private static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // room for 20 digits, the most a UInt64 has
        withUnsafeMutableBytes(of: &digits) { raw in
            var start = 24
            var rest = value
            while rest >= 100 {
                let pair = Int(rest % 100) * 2
                rest /= 100
                start -= 2
                raw[start] = pairs[pair]
                raw[start + 1] = pairs[pair + 1]
            }
            if rest >= 10 {
                start -= 2
                raw[start] = pairs[Int(rest) * 2]
                raw[start + 1] = pairs[Int(rest) * 2 + 1]
            } else {
                start -= 1
                raw[start] = UInt8(ascii: "0") + UInt8(rest)
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
    }

    /// "00", "01", … "99", one after the other.
    private static let pairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// The command that made `body`: `CREATE lunch pizza,sushi Where shall we eat?`, `VOTE lunch alice pizza`, …
    public static func command(_ body: EventBody) -> String {
        switch body {
        case .pollCreated(let poll, let options, let question):
            let head = "CREATE \(poll) " + options.joined(separator: ",")
            return question.isEmpty ? head : head + " " + question
        case .voteCast(let poll, let voter, let option):
            return "VOTE \(poll) \(voter) \(option)"
        case .voteRetracted(let poll, let voter):
            return "UNVOTE \(poll) \(voter)"
        case .pollClosed(let poll):
            return "CLOSE \(poll)"
        }
    }
}
