/// Runs one benchmark: builds the seeded workload, sets the server up over a control connection,
/// connects every load connection, drives them (on `clientThreads` threads, or one thread each),
/// then verifies the tallies and reads the server's memory.
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
        let connections = sockets.enumerated().map { index, socket in
            LoadConnection(socket: socket, votes: workload.perConnection[index], depth: config.depth, encoder: encoder,
                           successByte: dialect.successByte, successLine: dialect.successLine)
        }
        let (results, seconds) = try drive(connections, threads: config.clientThreadCount, timeoutSeconds: config.timeoutSeconds)

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

    /// Runs the connections, on `threads` threads (`LoadMultiplexer`, connection `i` on thread
    /// `i % threads`) or, with 0, one thread each (`LoadClient`), and returns their results, in
    /// order, and the wall time from the first thread's start to the last one's end.
    private static func drive(_ connections: [LoadConnection], threads: Int, timeoutSeconds: Int) throws(ClientError) -> ([ClientResult], Double) {
        let groups: [[Int]] = threads == 0
            ? connections.indices.map { [$0] }
            : (0..<min(threads, connections.count)).map { thread in Array(stride(from: thread, to: connections.count, by: threads)) }
        let slots = ResultSlots<[ClientResult]>(count: groups.count)
        var running: [BenchThread] = []
        let start = MonotonicClock.nanoseconds()
        for (group, members) in groups.enumerated() {
            let mine = members.map { connections[$0] }
            do throws(ClientError) {
                if threads == 0, let only = mine.first {
                    running.append(try BenchThread.start { slots.set(group, [LoadClient(connection: only).run()]) })
                } else {
                    let multiplexer = LoadMultiplexer(connections: mine, timeoutSeconds: timeoutSeconds)
                    running.append(try BenchThread.start { slots.set(group, multiplexer.run()) })
                }
            } catch {
                connections.forEach { $0.socket.shutdown() }  // ends the threads already running
                running.forEach { $0.join() }
                throw error
            }
        }
        running.forEach { $0.join() }
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        var results = [ClientResult](repeating: ClientResult(failure: "the thread ended without a result"), count: connections.count)
        for (members, values) in zip(groups, slots.values) {
            guard let values else { continue }
            for (member, value) in zip(members, values) { results[member] = value }
        }
        return (results, seconds)
    }
}
