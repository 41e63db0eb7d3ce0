/// The figures of one run, as lines for people and one `RESULT key=value …` line for scripts.
public struct BenchReport: Sendable {
    public var config: BenchConfig
    public var replies: Int
    public var seconds: Double
    public var errors: Int
    public var errorSamples: [String]
    public var latency: LatencyHistogram
    /// The server's resident set size and where the figure came from.
    public var memory: (bytes: Int, source: String)?
    public var verification: Verification
    public var expected: ExpectedTally

    /// Whether the final tallies matched (or could not be checked).
    public var succeeded: Bool { verification.status != .no }

    public var votesPerSecond: Int { seconds > 0 ? Int((Double(replies) / seconds).rounded()) : 0 }

    public var lines: [String] {
        let c = config
        let ping = c.command == .ping
        var lines = [
            "target \(c.label) at \(c.host):\(c.port): \(c.connections) connections x depth \(c.depth), "
                + (c.clientThreadCount == 0 ? "a client thread each" : "\(c.clientThreadCount) client thread\(c.clientThreadCount == 1 ? "" : "s")"),
            ping
                ? "workload: \(c.votes) PINGs, no polls (the floor: the fastest the server answers this client)"
                : "workload: \(c.votes) votes over \(c.polls) polls x \(c.options) options by \(c.voters) voters (seed \(c.seed)): "
                    + "\(expected.firstVotes) first votes, \(expected.moves) moves, \(expected.repeats) repeats",
            "done: \(replies) replies in \(Self.fixed(seconds, 3)) s = \(votesPerSecond) \(ping ? "PINGs" : "votes")/s",
            "latency us: p50 \(micros(0.5))  p90 \(micros(0.9))  p99 \(micros(0.99))  p99.9 \(micros(0.999))  max \(Self.micros(latency.max))",
            "errors: \(errors)",
        ]
        lines += errorSamples.map { "  error reply: \($0)" }
        if let memory {
            lines.append("server memory: \(Self.fixed(Double(memory.bytes) / 1_048_576, 1)) MiB (\(memory.source))")
        } else {
            lines.append("server memory: unknown (give --pid)")
        }
        switch verification.status {
        case .notApplicable where ping:
            lines.append("verified: n/a (\(c.label) sends no votes)")
        case .notApplicable:
            lines.append("verified: n/a (\(c.label) keeps no voters, so repeats are counted again)")
        case .yes, .no:
            lines.append("verified: \(verification.status.rawValue) (\(verification.pollsChecked) polls checked, \(verification.mismatchCount) mismatches)")
        }
        lines += verification.mismatches.map { "  mismatch: \($0)" }
        lines.append(resultLine)
        return lines
    }

    /// `RESULT target=… command=… label=… connections=… … verified=yes|no|n/a`; for a PING load,
    /// `votes` and `votes_per_s` count PINGs.
    public var resultLine: String {
        let fields: [(String, String)] = [
            ("target", config.target.rawValue),
            ("command", config.command.rawValue),
            ("label", config.label),
            ("connections", "\(config.connections)"),
            ("depth", "\(config.depth)"),
            ("client_threads", "\(config.clientThreadCount)"),
            ("votes", "\(replies)"),
            ("seconds", Self.fixed(seconds, 3)),
            ("votes_per_s", "\(votesPerSecond)"),
            ("p50_us", micros(0.5)),
            ("p90_us", micros(0.9)),
            ("p99_us", micros(0.99)),
            ("p999_us", micros(0.999)),
            ("max_us", Self.micros(latency.max)),
            ("errors", "\(errors)"),
            ("peak_rss_bytes", memory.map { "\($0.bytes)" } ?? "na"),
            ("verified", verification.status.rawValue),
        ]
        return "RESULT " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    private func micros(_ quantile: Double) -> String { Self.micros(latency.percentile(quantile)) }

    /// Nanoseconds as microseconds with one decimal.
    static func micros(_ nanoseconds: UInt64) -> String { fixed(Double(nanoseconds) / 1000, 1) }

    /// `value` with `digits` decimals, without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((value * Double(scale)).rounded())
        guard digits > 0 else { return "\(scaled)" }
        let fraction = String(scaled % scale)
        return "\(scaled / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
