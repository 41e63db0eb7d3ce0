/// Renders replies and pushed lines as text. Every line the server writes about a tally comes from
/// here, and so does `replay`'s output, which makes the two byte-for-byte comparable.
public enum ReplyFormat {
    /// `<poll> <seq> <open|closed> <opt>=<count> … total=<voters>`: the body shared by `TALLY` and `UPDATE`.
    public static func tallyBody(_ tally: Tally) -> String {
        var line = tally.poll
        line += " \(tally.lastSeq) "
        line += tally.isOpen ? "open" : "closed"
        for (option, count) in zip(tally.options, tally.counts) {
            line += " \(option)=\(count)"
        }
        line += " total=\(tally.total)"
        return line
    }

    /// `OK <seq>`, a command's reply: the digits written straight into the `String` (a small
    /// string, no allocation), where interpolation went through `description` and an append.
    public static func ok(_ seq: UInt64) -> String {
        var digits = 1
        var rest = seq / 10
        while rest > 0 { digits += 1; rest /= 10 }
        return String(unsafeUninitializedCapacity: 3 + digits) { buffer in
            buffer[0] = UInt8(ascii: "O")
            buffer[1] = UInt8(ascii: "K")
            buffer[2] = UInt8(ascii: " ")
            var value = seq
            for index in stride(from: 2 + digits, through: 3, by: -1) {
                buffer[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value % 10)
                value /= 10
            }
            return 3 + digits
        }
    }

    /// The `TALLY` reply line.
    public static func tallyLine(_ tally: Tally) -> String { "TALLY " + tallyBody(tally) }

    /// The pushed `UPDATE` line for a watcher.
    public static func updateLine(_ tally: Tally) -> String { "UPDATE " + tallyBody(tally) }

    /// One `POLLS` line: `POLL <poll> <open|closed> <seq> total=<voters> <opt>,<opt>… [question]`.
    public static func pollLine(_ tally: Tally) -> String {
        var line = "POLL \(tally.poll) \(tally.isOpen ? "open" : "closed") \(tally.lastSeq) total=\(tally.total) "
        line += tally.options.joined(separator: ",")
        if !tally.question.isEmpty { line += " " + tally.question }
        return line
    }

    /// The width of a 100% bar in `RESULTS`.
    public static let barWidth = 40

    /// The `RESULTS` block, lines without newlines, ending with `END`:
    /// ```
    /// RESULTS lunch 7 open total=3
    ///   Where shall we eat?
    ///   pizza   2  66.7%  ###########################
    ///   sushi   1  33.3%  #############
    /// END
    /// ```
    /// Lines inside the block are indented, so none of them can read as `END`.
    public static func resultsBlock(_ tally: Tally) -> [String] {
        var lines = ["RESULTS \(tally.poll) \(tally.lastSeq) \(tally.isOpen ? "open" : "closed") total=\(tally.total)"]
        lines.append("  " + (tally.question.isEmpty ? tally.poll : tally.question))
        let total = tally.total
        let nameWidth = tally.options.map(\.utf8.count).max() ?? 0
        let countWidth = String(tally.counts.max() ?? 0).count
        for (option, count) in zip(tally.options, tally.counts) {
            let name = option + String(repeating: " ", count: nameWidth - option.utf8.count)
            let countText = String(repeating: " ", count: countWidth - String(count).count) + String(count)
            let percent = percentText(count, of: total)
            let bar = String(repeating: "#", count: total == 0 ? 0 : (count * barWidth + total / 2) / total)
            lines.append("  \(name)  \(countText)  \(percent)  \(bar)".trimmingTrailingSpaces())
        }
        lines.append("END")
        return lines
    }

    /// `count/total` as a percentage with one decimal, right-aligned to 6 characters (`  0.0%`, `100.0%`).
    public static func percentText(_ count: Int, of total: Int) -> String {
        let tenths = total == 0 ? 0 : (count * 1000 + total / 2) / total
        let text = "\(tenths / 10).\(tenths % 10)%"
        return String(repeating: " ", count: max(0, 6 - text.count)) + text
    }

    /// The `HELP` block, ending with `END`.
    public static func helpBlock() -> [String] {
        let width = RequestParser.usage.map(\.syntax.count).max() ?? 0
        var lines = RequestParser.usage.map { entry in
            "  " + entry.syntax + String(repeating: " ", count: width - entry.syntax.count) + "  " + entry.summary
        }
        lines.insert("HELP commands (verbs are case-insensitive; one reply per request, in order)", at: 0)
        lines.append("END")
        return lines
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
