/// Setup, verification and memory for Redis over RESP. Keys per poll: `opts:<poll>` (set of options),
/// `voters:<poll>` (hash voter → option), `counts:<poll>` (hash option → voters); see Benchmarks/vote.lua.
/// A PING load touches no key and loads no script.
struct RedisDriver: TargetDriver {
    private let client: RESPClient
    private let command: BenchConfig.Command
    private let scriptPath: String
    private let scriptSHA: String?

    init(host: String, port: Int, timeoutSeconds: Int, command: BenchConfig.Command, scriptPath: String, scriptSHA: String?) throws(ClientError) {
        client = try RESPClient(host: host, port: port, timeoutSeconds: timeoutSeconds)
        self.command = command
        self.scriptPath = scriptPath
        self.scriptSHA = scriptSHA
    }

    func prepare(_ workload: Workload, setup: Bool) throws(ClientError) -> Dialect {
        guard command != .ping else { return .redisPing }
        let polls = (0..<workload.polls).map(Workload.pollName)
        if setup {
            let keys = polls.flatMap { ["opts:\($0)", "voters:\($0)", "counts:\($0)"] }
            let existing = try client.pipeline([["EXISTS"] + keys])
            guard existing == [.integer(0)] else {
                throw ClientError("Redis already holds bench keys (opts:/voters:/counts:<poll>): the bench needs an empty server (start a fresh one), or pass --setup no")
            }
        }
        guard command == .vote else { return .redisIncrement }
        let sha = try loadScript()
        if setup {
            let replies = try client.pipeline(polls.map { ["SADD", "opts:\($0)"] + workload.optionNames })
            if let bad = replies.first(where: { if case .integer = $0 { false } else { true } }) {
                throw ClientError("SADD of the poll options failed: \(bad.summary)")
            }
        }
        return .redisVote(sha: sha)
    }

    /// The SHA of the vote script: the one given (checked with SCRIPT EXISTS), else SCRIPT LOAD of the file.
    private func loadScript() throws(ClientError) -> String {
        if let scriptSHA {
            let reply = try client.command("SCRIPT", "EXISTS", scriptSHA)
            guard reply == .array([.integer(1)]) else {
                throw ClientError("Redis has no script \(scriptSHA); drop --redis-sha to load \(scriptPath)")
            }
            return scriptSHA
        }
        guard let source = TextFile.read(scriptPath) else {
            throw ClientError("cannot read the vote script \(scriptPath) (give its path with --redis-script)")
        }
        let reply = try client.command("SCRIPT", "LOAD", source)
        guard let sha = reply.text, sha.utf8.count == 40 else {
            throw ClientError("SCRIPT LOAD of \(scriptPath) failed: \(reply.summary)")
        }
        return sha
    }

    func verify(_ workload: Workload, dialect: Dialect) throws(ClientError) -> Verification {
        guard dialect.verifiable else { return .notApplicable }
        var verification = Verification.started()
        let polls = (0..<workload.polls).map(Workload.pollName)
        let replies = try client.pipeline(polls.flatMap { [["HGETALL", "counts:\($0)"], ["HLEN", "voters:\($0)"]] })
        for (poll, name) in polls.enumerated() {
            guard case .array(let items?) = replies[2 * poll], case .integer(let voters) = replies[2 * poll + 1] else {
                verification.mismatch("\(name): unexpected replies \(replies[2 * poll].summary), \(replies[2 * poll + 1].summary)")
                continue
            }
            var counts: [String: Int] = [:]
            for pair in stride(from: 0, to: items.count - 1, by: 2) {
                guard let option = items[pair].text, let text = items[pair + 1].text, let count = Int(text) else { continue }
                counts[option] = count
            }
            for (option, count) in workload.expected.counts[poll].enumerated() {
                let optionName = Workload.optionName(option)
                verification.check("\(name) \(optionName)", expected: count, actual: counts[optionName] ?? 0)
            }
            verification.check("\(name) total", expected: workload.expected.total(poll: poll), actual: voters)
            verification.checkedPoll()
        }
        return verification
    }

    func residentBytes() -> (bytes: Int, source: String)? {
        guard let reply = try? client.command("INFO", "memory"), let text = reply.text else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory_rss:") {
            guard let bytes = Int(line.dropFirst("used_memory_rss:".count)) else { return nil }
            return (bytes, "INFO used_memory_rss after the run: current, not peak")
        }
        return nil
    }

    func close() { client.close() }
}
