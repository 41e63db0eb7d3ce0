import PollTallyCore

/// The requests a connection answers itself, when every earlier reply has left: they read the
/// durable tallies (so they see at least this client's earlier commands) or change what the
/// connection receives.
extension Connection {
    func answer(_ request: Request) -> String {
        let board = context.board
        switch request {
        case .polls:
            return (board.all().map(ReplyFormat.pollLine) + ["END"]).joined(separator: "\n")
        case .watch(let polls):
            var unique: [String] = []
            for poll in polls where !unique.contains(poll) {
                guard board.tally(poll) != nil else { return noSuchPoll(poll) }
                unique.append(poll)
            }
            // Subscribe before reading, so a change landing in between is pushed rather than missed.
            pushGate.withLock { $0.watch(unique) }
            context.hub.watch(self, polls: unique)
            let tallies = unique.compactMap { board.tally($0) }
            pushGate.withLock { $0.gave(tallies.map { ($0.poll, $0.lastSeq) }) }
            return (["OK watching \(unique.count)"] + tallies.map(ReplyFormat.updateLine)).joined(separator: "\n")
        case .watchAll:
            pushGate.withLock { $0.watchEveryPoll() }
            context.hub.watchEveryPoll(self)
            let tallies = board.all()
            pushGate.withLock { $0.gave(tallies.map { ($0.poll, $0.lastSeq) }) }
            return (["OK watching \(tallies.count)"] + tallies.map(ReplyFormat.updateLine)).joined(separator: "\n")
        case .unwatch(let polls):
            // Stop here first: an update the hub offers from now on is refused.
            pushGate.withLock { $0.unwatch(polls.isEmpty ? nil : polls) }
            context.hub.unwatch(self, polls: polls.isEmpty ? nil : polls)
            return "OK"
        case .tail(let from, let poll):
            return startTail(from: from, poll: poll)
        case .stats:
            return context.statsBlock().joined(separator: "\n")
        case .quit:
            return "BYE"
        case .ping, .help, .command, .tally, .results, .auth:
            return ProtocolError(.badRequest, "unexpected request").line
        }
    }

    private func noSuchPoll(_ poll: String) -> String {
        TallyRule.noSuchPoll(poll).protocolError.line
    }
}
