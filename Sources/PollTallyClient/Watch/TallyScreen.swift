/// Renders a tally for a terminal, like `top` for a poll: the question, one bar per option with
/// count and percentage, the total, the last seq and open/closed. A pure function of its inputs.
public enum TallyScreen {
    /// The screen's lines for a terminal `width` columns wide.
    public static func lines(_ tally: TallyLine, question: String, width: Int) -> [String] {
        let width = max(40, width)
        var lines: [String] = []
        lines.append(clip(question.isEmpty ? tally.poll : question, width))
        lines.append(clip("poll \(tally.poll) · \(tally.isOpen ? "open" : "closed") · seq \(tally.seq) · \(tally.total) voter\(tally.total == 1 ? "" : "s")", width))
        lines.append("")
        let nameWidth = min(24, width / 3, tally.options.map(\.name.count).max() ?? 0)
        let countWidth = String(tally.options.map(\.count).max() ?? 0).count
        // name, 2 spaces, bar, 2 spaces, count, 2 spaces, "100.0%", and 2 columns spare so a line
        // never reaches the last column (some terminals wrap there).
        let barWidth = max(1, width - nameWidth - countWidth - 14)
        for option in tally.options {
            let name = pad(String(option.name.prefix(nameWidth)), nameWidth)
            let filled = tally.total == 0 ? 0 : (option.count * barWidth + tally.total / 2) / tally.total
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
            let count = String(repeating: " ", count: countWidth - String(option.count).count) + String(option.count)
            lines.append("\(name)  \(bar)  \(count)  \(percent(option.count, of: tally.total))")
        }
        if !tally.isOpen {
            lines.append("")
            lines.append(clip("This poll is closed: these are the final results.", width))
        }
        return lines
    }

    /// One plain line per update, for when the output is not a terminal.
    public static func plainLine(_ tally: TallyLine) -> String {
        let options = tally.options.map { "\($0.name)=\($0.count)" }.joined(separator: " ")
        return "\(tally.poll) seq=\(tally.seq) \(tally.isOpen ? "open" : "closed") \(options) total=\(tally.total)"
    }

    static func percent(_ count: Int, of total: Int) -> String {
        let tenths = total == 0 ? 0 : (count * 1000 + total / 2) / total
        let text = "\(tenths / 10).\(tenths % 10)%"
        return String(repeating: " ", count: max(0, 6 - text.count)) + text
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    private static func clip(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }
}
