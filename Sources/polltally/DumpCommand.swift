import PollTallyCore
import PollTallyLog

/// `polltally dump`: prints the events as text.
enum DumpCommand: Command {
    static let name = "dump"
    static let summary = "print the events as EVENT lines"
    static let flags: Set<String> = ["data", "from"]
    static let usage = """
        usage: polltally dump [--data ./polltally-data] [--from SEQ]

        Prints each event as: EVENT <seq> <unix-ms> <KIND> <args...>, where KIND and args mirror
        the command that made it (CREATE, VOTE, UNVOTE, CLOSE).
          --from  start at this seq (default 1)
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        let directory = LogDirectory(path: arguments.string("data") ?? "./polltally-data")
        let from = try arguments.integer("from", default: UInt64(1), in: 1...UInt64.max)
        var out = LineWriter()
        do throws(LogError) {
            // Each line written from the record's bytes (`EventText.appendLine`), no `Event` made.
            _ = try LogScanner(directory: directory).scanRecords(fromSeq: from, batchSize: 4096) { batch throws(LogError) in
                for record in batch.records {
                    do throws(EventCodec.DecodeError) {
                        try out.event(batch.payload(of: record))
                    } catch {
                        throw .corruptRecord(path: batch.path, offset: Int64(record.offset), reason: error.description)
                    }
                }
            }
        } catch {
            out.flush()
            Output.err("polltally dump: \(error)")
            return 1
        }
        out.flush()
        return 0
    }
}
