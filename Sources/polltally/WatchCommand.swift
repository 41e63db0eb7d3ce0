import Dispatch
import Foundation
import PollTallyClient
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally watch`: a live view of one poll in the terminal.
enum WatchCommand: Command {
    static let name = "watch"
    static let summary = "show a poll's results live in the terminal"
    static let flags: Set<String> = ["host", "port", "token-file"]
    static let positionals = 1
    static let usage = """
        usage: polltally watch <poll> [--host 127.0.0.1] [--port 7070] [--token-file PATH]

        Redraws the poll's results in place on every change: the question, a bar per option
        with count and percentage, the total, the last seq, open or closed. Ctrl-C quits.
        When stdout is not a terminal it prints one plain line per update instead.
        With a token-protected server, give --token-file (or set POLLTALLY_TOKEN); a read-only
        token is enough.
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        guard let poll = arguments.positional.first else { throw .init(message: "name the poll to watch") }
        let host = arguments.string("host") ?? "127.0.0.1"
        let port = try arguments.integer("port", default: 7070, in: 1...65535)
        var token: String?
        if let path = arguments.string("token-file") {
            guard let text = Output.readSmallFile(path) else { throw .init(message: "--token-file: cannot read \(path)") }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let value = ProcessInfo.processInfo.environment["POLLTALLY_TOKEN"] {
            token = value.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let interactive = Output.isTerminal(1)
        signal(SIGPIPE, SIG_IGN)
        if interactive {
            for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { @Sendable in
                    LiveWatch.restoreTerminal()
                    exit(0)
                }
                source.resume()
                SignalSources.keep(source)
            }
        }
        return LiveWatch.run(host: host, port: port, poll: poll, token: token?.isEmpty == false ? token : nil, interactive: interactive)
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ source: any DispatchSourceSignal) { sources.append(source) }
}
