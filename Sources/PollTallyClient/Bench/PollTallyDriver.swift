/// Setup, verification and memory for PollTally over its line protocol: CREATE each poll, TALLY each
/// poll at the end, STATS for `rss_bytes`. A PING load needs neither setup nor verification.
struct PollTallyDriver: TargetDriver {
    private let client: LineClient
    private let command: BenchConfig.Command

    init(host: String, port: Int, timeoutSeconds: Int, command: BenchConfig.Command) throws(ClientError) {
        guard command != .hincrby else { throw ClientError("hincrby is a Redis command: use --target redis, or --command vote or ping") }
        client = try LineClient(host: host, port: port, timeoutSeconds: timeoutSeconds)
        self.command = command
    }

    func prepare(_ workload: Workload, setup: Bool) throws(ClientError) -> Dialect {
        guard command == .vote else { return .polltallyPing }
        guard setup else { return .polltally }
        let options = workload.optionNames.joined(separator: ",")
        let requests = (0..<workload.polls).map { "CREATE \(Workload.pollName($0)) \(options) bench poll \($0)" }
        let replies = try client.exchange(requests)
        for (index, reply) in replies.enumerated() where !reply.hasPrefix("OK") {
            if reply.hasPrefix("ERR poll-exists") {
                throw ClientError("poll \(Workload.pollName(index)) already exists: the bench needs an empty server (start one on a fresh --data folder), or pass --setup no")
            }
            throw ClientError("CREATE \(Workload.pollName(index)) failed: \(reply)")
        }
        return .polltally
    }

    func verify(_ workload: Workload, dialect: Dialect) throws(ClientError) -> Verification {
        guard dialect.verifiable else { return .notApplicable }
        var verification = Verification.started()
        let replies = try client.exchange((0..<workload.polls).map { "TALLY \(Workload.pollName($0))" })
        for (poll, reply) in replies.enumerated() {
            let name = Workload.pollName(poll)
            let fields = reply.split(separator: " ")
            guard fields.count >= 5, fields[0] == "TALLY", fields[1] == name else {
                verification.mismatch("\(name): unexpected reply '\(reply.prefix(120))'")
                continue
            }
            var counts: [String: Int] = [:]
            for field in fields.dropFirst(4) {
                guard let equals = field.firstIndex(of: "="), let value = Int(field[field.index(after: equals)...]) else { continue }
                counts[String(field[..<equals])] = value
            }
            let expected = workload.expected.counts[poll]
            for (option, count) in expected.enumerated() {
                let optionName = Workload.optionName(option)
                verification.check("\(name) \(optionName)", expected: count, actual: counts[optionName] ?? -1)
            }
            verification.check("\(name) total", expected: workload.expected.total(poll: poll), actual: counts["total"] ?? -1)
            verification.checkedPoll()
        }
        return verification
    }

    func residentBytes() -> (bytes: Int, source: String)? {
        guard let lines = try? stats() else { return nil }
        for line in lines where line.hasPrefix("STAT rss_bytes ") {
            guard let bytes = Int(line.dropFirst("STAT rss_bytes ".count)) else { return nil }
            return (bytes, "STAT rss_bytes after the run: current, not peak")
        }
        return nil
    }

    private func stats() throws(ClientError) -> [String] {
        try client.send(["STATS"])
        var lines: [String] = []
        while true {
            let line = try client.readLine()
            if line == "END" || line.hasPrefix("ERR") { return lines }
            lines.append(line)
        }
    }

    func close() { client.close() }
}
