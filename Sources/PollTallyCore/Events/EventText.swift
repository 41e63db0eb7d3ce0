/// The text form of events shared by `polltally dump` and (later) `TAIL`:
/// `EVENT <seq> <unix-ms> <KIND> <args…>`, where KIND and args mirror the command that made it.
public enum EventText {
    /// Renders `event` as one line, without the trailing newline.
    public static func line(_ event: Event) -> String {
        "EVENT \(event.seq) \(event.timestampMs) " + command(event.body)
    }

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
