import PollTallyClient

/// `polltally bench`: drives a PollTally or Redis server with a seeded vote load, reports throughput,
/// latency percentiles and memory, and checks the final tallies. `--disk-sync N` measures the disk instead.
enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "load a server with votes and check the tallies"
    static let flags: Set<String> = [
        "host", "port", "target", "command", "connections", "depth", "client-threads", "polls", "options", "voters", "votes",
        "seed", "pid", "setup", "redis-sha", "redis-script", "timeout", "disk-sync", "dir",
    ]
    static let usage = """
        usage: polltally bench [--host 127.0.0.1] [--port 7070] [--target polltally|redis] [--command vote|hincrby|ping]
                               [--connections 16] [--depth 16] [--client-threads N] [--polls 100] [--options 4] [--voters 200000]
                               [--votes 1000000] [--seed 1] [--pid PID] [--setup yes|no]
                               [--redis-sha SHA] [--redis-script Benchmarks/vote.lua] [--timeout 60]
               polltally bench --disk-sync N [--dir .]

          --target        polltally (VOTE lines) or redis (EVALSHA of the vote script)
          --command       vote (default): VOTE, or for redis the vote script
                          hincrby: redis only, a bare HINCRBY (not verified)
                          ping: PING (polltally) or inline PING (redis), the floor: the fastest the
                          server answers this client at all; --votes PINGs, no setup, not verified
          --connections   connections (default 16)
          --depth         requests in flight per connection (default 16)
          --client-threads
                          threads that drive the connections, each waiting on epoll for
                          whichever has replies (default: one per core); 0: a thread per
                          connection, each blocking in its reads
          --polls, --options, --voters, --votes, --seed
                          the seeded workload: polls p0.., options o0.., voters v0..
          --pid           the server's pid, for its peak RSS (VmHWM); otherwise the server's own figure
          --setup         yes (default): create the polls first, on an empty server; no: they exist
                          (--command ping creates nothing either way)
          --redis-sha     a vote script already loaded (default: SCRIPT LOAD --redis-script)
          --timeout       seconds without progress before a connection fails as stalled (default 60)
          --disk-sync N   no server: time N writes of 64 bytes + fdatasync in --dir, appending
                          and then overwriting zeros (as the log does); one DISKSYNC line each

        Prints a report and a RESULT line. Exit 0 when the tallies match, 1 on mismatch or failure.
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        if arguments.string("disk-sync") != nil {
            return diskSync(iterations: try arguments.integer("disk-sync", default: 2000, in: 1...10_000_000), directory: arguments.string("dir") ?? ".")
        }
        let config = try BenchCommand.config(arguments)
        do throws(ClientError) {
            let report = try BenchRunner.run(config) { Output.err("bench: " + $0) }
            report.lines.forEach(Output.out)
            return report.succeeded ? 0 : 1
        } catch {
            Output.err("polltally bench: \(error.message)")
            return 1
        }
    }

    private static func config(_ arguments: Arguments) throws(Arguments.UsageError) -> BenchConfig {
        var config = BenchConfig()
        config.host = arguments.string("host") ?? config.host
        config.port = try arguments.integer("port", default: config.port, in: 1...65535)
        if let text = arguments.string("target") {
            guard let target = BenchConfig.Target(rawValue: text) else { throw .init(message: "--target must be polltally or redis, not '\(text)'") }
            config.target = target
        }
        if let text = arguments.string("command") {
            guard let command = BenchConfig.Command(rawValue: text) else { throw .init(message: "--command must be vote, hincrby or ping, not '\(text)'") }
            guard command != .hincrby || config.target == .redis else { throw .init(message: "--command hincrby is for --target redis") }
            config.command = command
        }
        config.connections = try arguments.integer("connections", default: config.connections, in: 1...1024)
        config.depth = try arguments.integer("depth", default: config.depth, in: 1...4096)
        if arguments.string("client-threads") != nil {
            config.clientThreads = try arguments.integer("client-threads", default: 0, in: 0...1024)
        }
        config.polls = try arguments.integer("polls", default: config.polls, in: 1...1_000_000)
        config.options = try arguments.integer("options", default: config.options, in: 2...64)
        config.voters = try arguments.integer("voters", default: config.voters, in: 1...100_000_000)
        config.votes = try arguments.integer("votes", default: config.votes, in: 1...200_000_000)
        config.seed = try arguments.integer("seed", default: config.seed, in: 0...UInt64.max)
        if arguments.string("pid") != nil { config.pid = try arguments.integer("pid", default: 0, in: 1...Int(Int32.max)) }
        switch arguments.string("setup") {
        case nil, "yes": config.setup = true
        case "no": config.setup = false
        case let text?: throw .init(message: "--setup must be yes or no, not '\(text)'")
        }
        config.redisSHA = arguments.string("redis-sha")
        config.redisScript = arguments.string("redis-script") ?? config.redisScript
        config.timeoutSeconds = try arguments.integer("timeout", default: config.timeoutSeconds, in: 1...3600)
        return config
    }

    private static func diskSync(iterations: Int, directory: String) -> Int32 {
        do throws(ClientError) {
            for mode in DiskSyncProbe.Mode.allCases {
                Output.out(try DiskSyncProbe.measure(iterations: iterations, directory: directory, mode: mode).line)
            }
            return 0
        } catch {
            Output.err("polltally bench: \(error.message)")
            return 1
        }
    }
}
