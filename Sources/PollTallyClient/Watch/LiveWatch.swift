#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally watch`: connects, asks for the poll's question (`RESULTS`), sends `WATCH`, and
/// redraws the poll in place on each `UPDATE`; on a non-terminal it prints one plain line per
/// update instead. Runs until the server closes the connection or the process is interrupted.
public enum LiveWatch {
    /// Escape sequences: alternate screen and hidden cursor while drawing, restored on exit.
    static let enter = "\u{1B}[?1049h\u{1B}[?25l"
    static let leave = "\u{1B}[?25h\u{1B}[?1049l"
    static let home = "\u{1B}[H\u{1B}[2J"

    /// Watches `poll`; returns a process exit status. `interactive` draws for a terminal.
    public static func run(host: String, port: Int, poll: String, token: String?, interactive: Bool) -> Int32 {
        let client: LineClient
        do throws(ClientError) {
            client = try LineClient(host: host, port: port, timeoutSeconds: 0)
        } catch {
            writeErr("polltally watch: \(error)")
            return 1
        }
        defer { client.close() }
        do throws(ClientError) {
            if let token {
                try client.send(["AUTH \(token)"])
                let reply = try client.readLine()
                guard reply.hasPrefix("OK") else {
                    writeErr("polltally watch: \(reply)")
                    return 1
                }
            }
            try client.send(["RESULTS \(poll)", "WATCH \(poll)"])
            let header = try client.readLine()
            if header.hasPrefix("ERR ") {
                writeErr("polltally watch: \(header)")
                return 1
            }
            var block: [String] = []
            while true {
                let line = try client.readLine()
                if line == "END" { break }
                block.append(line)
            }
            let question = block.first.map { String($0.drop { $0 == " " }) } ?? poll
            let ok = try client.readLine()
            guard ok.hasPrefix("OK watching") else {
                writeErr("polltally watch: \(ok)")
                return 1
            }
            if interactive { write(enter) }
            defer { if interactive { write(leave) } }
            while true {
                let line = try client.readLine()
                guard line.hasPrefix("UPDATE "), let tally = TallyLine(line) else { continue }
                if interactive {
                    let screen = TallyScreen.lines(tally, question: question, width: terminalWidth())
                    write(home + screen.joined(separator: "\n") + "\n")
                } else {
                    write(TallyScreen.plainLine(tally) + "\n")
                }
            }
        } catch {
            if interactive { write(leave) }
            writeErr("polltally watch: \(error)")
            return 1
        }
    }

    /// Restores the terminal; safe to call from a signal handler's queue.
    public static func restoreTerminal() {
        write(leave)
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    static func write(_ text: String) {
        var text = text
        text.withUTF8 { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(1, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func writeErr(_ text: String) {
        var text = text + "\n"
        text.withUTF8 { raw in _ = Glibc.write(2, raw.baseAddress, raw.count) }
    }
}
