import Dispatch
import PollTallyCore
import PollTallyLog
import Synchronization

/// What every connection shares: the shards, the durable tallies, the watch hub, the log (for
/// `STATS`), the limits, and the registry of open connections.
final class ServerContext: Sendable {
    let config: ServerConfig
    let router: ShardRouter
    let board: TallyBoard
    let hub: WatchHub
    let tails: TailHub
    let log: LogWriter
    /// Snapshots and the background verify, for `STATS`.
    let durability: DurabilityStatus
    /// Where `TAIL` reads catch-up events: a utility queue, away from connections and shards.
    let tailQueue = DispatchQueue(label: "polltally.tail", qos: .utility, attributes: .concurrent)
    let stats = ServerStats()
    let parser: RequestParser
    private let connections = Mutex<[Int: Connection]>([:])
    private let nextID = Atomic<Int>(1)

    init(config: ServerConfig, router: ShardRouter, board: TallyBoard, hub: WatchHub, tails: TailHub, log: LogWriter,
         durability: DurabilityStatus = DurabilityStatus()) {
        self.durability = durability
        self.tails = tails
        self.config = config
        self.router = router
        self.board = board
        self.hub = hub
        self.log = log
        self.parser = RequestParser(maxQuestionBytes: config.maxQuestion, maxOptions: config.maxOptions)
    }

    func makeConnectionID() -> Int {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    func register(_ connection: Connection) {
        connections.withLock { $0[connection.id] = connection }
        stats.connections.add(1, ordering: .relaxed)
        stats.connectionsTotal.add(1, ordering: .relaxed)
    }

    func unregister(_ connection: Connection) {
        let removed = connections.withLock { $0.removeValue(forKey: connection.id) }
        if removed != nil { stats.connections.subtract(1, ordering: .relaxed) }
    }

    var openConnections: [Connection] {
        connections.withLock { Array($0.values) }
    }

    /// The `STATS` block.
    func statsBlock() -> [String] {
        let counters = log.counters
        let uptime = ContinuousClock.now - stats.startedAt
        var lines: [String] = []
        func stat(_ name: String, _ value: any CustomStringConvertible) { lines.append("STAT \(name) \(value)") }
        stat("uptime_seconds", uptime.components.seconds)
        stat("connections", stats.connections.load(ordering: .relaxed))
        stat("connections_total", stats.connectionsTotal.load(ordering: .relaxed))
        stat("watchers", hub.watcherCount)
        stat("tails", tails.count)
        stat("requests", stats.requests.load(ordering: .relaxed))
        stat("errors", stats.errors.load(ordering: .relaxed))
        stat("slow_consumers_closed", stats.slowConsumers.load(ordering: .relaxed))
        stat("auth_failures", stats.authFailures.load(ordering: .relaxed))
        stat("connections_refused", stats.refusedConnections.load(ordering: .relaxed))
        stat("max_connections", config.maxConnections)
        stat("polls", board.count)
        stat("events", counters.durableSeq)
        stat("appended_seq", counters.appendedSeq)
        stat("durable_seq", counters.durableSeq)
        stat("fsync", config.fsync)
        stat("fsyncs", counters.fsyncs)
        stat("log_batches", counters.batches)
        stat("log_bytes_written", counters.bytesWritten)
        stat("log_zero_writes_failed", counters.zeroWritesFailed)
        stat("writable", counters.failure == nil ? "yes" : "no")
        stat("shards", router.shards.count)
        stat("rss_bytes", SystemInfo.residentBytes)
        lines += durability.statLines
        lines.append("END")
        return lines
    }
}
