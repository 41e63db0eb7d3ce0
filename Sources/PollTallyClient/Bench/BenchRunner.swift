/// Runs one benchmark: builds the seeded workload, sets the server up over a control connection,
/// connects every load connection, drives them on one thread each, then verifies the tallies and
/// reads the server's memory.
public enum BenchRunner {
    /// Runs `config`; `progress` receives a line at each phase.
    public static func run(_ config: BenchConfig, progress: (String) -> Void) throws(ClientError) -> BenchReport {
        let workload = Workload(
            polls: config.polls, options: config.options, voters: config.voters,
            votes: config.votes, seed: config.seed, connections: config.connections)
        let driver = try makeDriver(config)
        defer { driver.close() }
        let dialect = try driver.prepare(workload, setup: config.createsPolls)
        if config.createsPolls { progress("setup: \(config.polls) polls with \(config.options) options on \(config.label)") }

        let sockets = try connect(config)
        defer { sockets.forEach { $0.close() } }
        progress("load: \(config.votes) \(config.command == .ping ? "PINGs" : "votes") on \(config.connections) connections x depth \(config.depth)")
        let encoder = RequestEncoder(dialect: dialect, polls: config.polls, options: config.options)
        let (results, seconds) = try drive(sockets, workload, encoder, dialect, depth: config.depth)

        var merged = ClientResult()
        for result in results {
            if let failure = result.failure { throw ClientError("a load connection failed: \(failure)") }
            merged.replies += result.replies
            merged.errors += result.errors
            merged.errorSamples += result.errorSamples.prefix(ClientResult.maxSamples - merged.errorSamples.count)
            merged.latency.merge(result.latency)
        }
        let verification = try driver.verify(workload, dialect: dialect)
        let memory: (bytes: Int, source: String)?
        if let pid = config.pid, let peak = ProcessMemory.peakResidentBytes(pid: pid) {
            memory = (peak, "VmHWM of pid \(pid)")
        } else {
            memory = driver.residentBytes()
        }
        return BenchReport(
            config: config, replies: merged.replies, seconds: seconds, errors: merged.errors,
            errorSamples: merged.errorSamples, latency: merged.latency, memory: memory,
            verification: verification, expected: workload.expected)
    }

    private static func makeDriver(_ config: BenchConfig) throws(ClientError) -> any TargetDriver {
        switch config.target {
        case .polltally:
            return try PollTallyDriver(host: config.host, port: config.port, timeoutSeconds: config.timeoutSeconds, command: config.command)
        case .redis:
            return try RedisDriver(
                host: config.host, port: config.port, timeoutSeconds: config.timeoutSeconds,
                command: config.command, scriptPath: config.redisScript, scriptSHA: config.redisSHA)
        }
    }

    /// Opens every load connection before the clock starts.
    private static func connect(_ config: BenchConfig) throws(ClientError) -> [TCPSocket] {
        var sockets: [TCPSocket] = []
        do throws(ClientError) {
            for _ in 0..<config.connections {
                sockets.append(try TCPSocket.connect(host: config.host, port: config.port, timeoutSeconds: config.timeoutSeconds))
            }
        } catch {
            sockets.forEach { $0.close() }
            throw error
        }
        return sockets
    }

    /// Runs one thread per connection and returns their results and the wall time from the first
    /// thread's start to the last one's end.
    private static func drive(_ sockets: [TCPSocket], _ workload: Workload, _ encoder: RequestEncoder, _ dialect: Dialect, depth: Int) throws(ClientError) -> ([ClientResult], Double) {
        let slots = ResultSlots<ClientResult>(count: sockets.count)
        var threads: [BenchThread] = []
        let start = MonotonicClock.nanoseconds()
        for (index, socket) in sockets.enumerated() {
            let client = LoadClient(
                socket: socket, votes: workload.perConnection[index], depth: depth,
                encoder: encoder, successByte: dialect.successByte, successLine: dialect.successLine)
            do throws(ClientError) {
                threads.append(try BenchThread.start { slots.set(index, client.run()) })
            } catch {
                sockets.forEach { $0.shutdown() }  // ends the threads already running
                threads.forEach { $0.join() }
                throw error
            }
        }
        threads.forEach { $0.join() }
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let results = slots.values.map { $0 ?? ClientResult(failure: "the thread ended without a result") }
        return (results, seconds)
    }
}
