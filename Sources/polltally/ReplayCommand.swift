import PollTallyCore
import PollTallyLog
import PollTallyServer

/// `polltally replay`: rebuilds the tallies from the log alone.
enum ReplayCommand: Command {
    static let name = "replay"
    static let summary = "print the tallies rebuilt from the log"
    static let flags: Set<String> = ["data", "until", "poll"]
    static let usage = """
        usage: polltally replay [--data ./polltally-data] [--until SEQ] [--poll ID]

        Prints one TALLY line per poll, in poll-id order, exactly as the server's TALLY answers
        at that point of the log. Reads the whole log from seq 1 (never a snapshot), so the
        history stays auditable; progress goes to stderr when it is a terminal. Safe while a
        server runs on the same folder.
          --until  stop after event SEQ (default: the whole log)
          --poll   print only this poll
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        let directory = LogDirectory(path: arguments.string("data") ?? "./polltally-data")
        let until = try arguments.integer("until", default: UInt64.max, in: 0...UInt64.max)
        let only = arguments.string("poll")
        // One projection per core, each owning its polls; the whole log from seq 1, never a
        // snapshot: replay is the audit of the history.
        var projections = Array(repeating: Projection(limits: .init(maxOptions: 255)), count: max(1, SystemInfo.activeCores))
        var progress = ScanProgress("replay", directory: directory)
        do throws(LogError) {
            _ = try LogReplayer(directory: directory).replay(into: &projections, throughSeq: until) { events, location in
                progress.events(events, at: location)
            }
        } catch {
            progress.finish()
            Output.err("polltally replay: \(error)")
            return 1
        }
        progress.finish()
        var out = LineWriter()
        if let only {
            guard let tally = projections[PollPartition.index(of: only, count: projections.count)].tally(only) else {
                Output.err("polltally replay: no poll named \(only)")
                return 1
            }
            out.line(ReplyFormat.tallyLine(tally))
        } else {
            let tallies = projections.flatMap(\.tallies).sorted { $0.poll.utf8.lexicographicallyPrecedes($1.poll.utf8) }
            for tally in tallies { out.line(ReplyFormat.tallyLine(tally)) }
        }
        out.flush()
        return 0
    }
}
