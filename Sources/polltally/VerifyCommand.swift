import PollTallyCore
import PollTallyLog

/// `polltally verify`: checks every record of the log.
enum VerifyCommand: Command {
    static let name = "verify"
    static let summary = "check every record: checksum, sequence, validity"
    static let flags: Set<String> = ["data"]
    static let usage = """
        usage: polltally verify [--data ./polltally-data]

        Checks every record's checksum, that seqs run 1, 2, 3, ... without gaps, and that every
        event is valid where it stands. Exit 0 when healthy; otherwise exit 1 naming the file and
        byte offset of the first problem.
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        let directory = LogDirectory(path: arguments.string("data") ?? "./polltally-data")
        var projection = Projection(limits: .init(maxOptions: 255))
        let summary: LogScanner.Summary
        let segments: Int
        do throws(LogError) {
            segments = try directory.segments().count
            summary = try LogScanner(directory: directory).scan { event, location throws(LogError) in
                do throws(TallyRule) { try projection.apply(event) } catch {
                    throw .invalidEvent(path: location.path, offset: location.offset, seq: event.seq, reason: "\(error)")
                }
            }
        } catch {
            Output.err("polltally verify: \(error)")
            return 1
        }
        if let torn = summary.tornTail {
            Output.err("polltally verify: \(torn); the next 'serve' cuts it")
            return 1
        }
        Output.out("ok: \(summary.events) events (seq 1..\(summary.lastSeq)) in \(segments) segment(s), \(summary.bytesRead) bytes, \(projection.polls.count) polls")
        return 0
    }
}
