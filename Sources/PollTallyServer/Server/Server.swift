import Dispatch
import PollTallyCore
public import PollTallyLog

/// A running PollTally server: the log opened and recovered, the projection actors rebuilt, the
/// watch hub ticking, and the listener accepting.
///
/// ```
/// socket → Connection (LineFramer, RequestParser) → PollShard actor (decide, apply)
///        → LogWriter (group commit) → durable → PollShard releases replies, moves TallyBoard
///        → WatchHub → watching Connections
/// ```
public final class Server: Sendable {
    public let config: ServerConfig
    /// The port actually bound (useful with port 0).
    public let port: Int
    /// What recovery read and cut at start.
    public let recovery: EventLog.Recovery
    private let context: ServerContext
    private let listener: Listener
    private let loops: EventLoopGroup
    private let sweeper: ConnectionSweeper
    private let snapshotter: Snapshotter
    private let verifier: BackgroundVerifier
    private let lock: FileDescriptor

    private init(config: ServerConfig, port: Int, recovery: EventLog.Recovery, context: ServerContext, listener: Listener,
                 loops: EventLoopGroup, snapshotter: Snapshotter, verifier: BackgroundVerifier, lock: FileDescriptor) {
        self.snapshotter = snapshotter
        self.verifier = verifier
        self.config = config
        self.port = port
        self.recovery = recovery
        self.context = context
        self.listener = listener
        self.loops = loops
        self.sweeper = ConnectionSweeper(context: context)
        self.lock = lock
    }

    /// Opens the data folder, loads the newest usable snapshot and replays the log after it into
    /// the projections, and starts listening.
    public static func start(_ config: ServerConfig) throws(ServerError) -> Server {
        guard config.shards >= 1 else { throw .badConfig("need at least one shard") }
        let durability = DurabilityStatus()
        let recovered = try StartupRecovery.recover(config, status: durability)
        let projections = recovered.projections
        let opened = recovered.opened
        let socket: Socket
        do throws(SocketError) { socket = try Socket.listen(host: config.host, port: config.port) } catch {
            opened.lock.close()
            throw .listen(error)
        }
        let board = TallyBoard(projections.flatMap(\.tallies))
        let hub = WatchHub(interval: config.watchInterval)
        let log = opened.writer
        let durable = opened.recovery.lastSeq
        let shards = projections.enumerated().map { index, projection in
            PollShard(index: index, projection: projection, log: log, board: board, durableSeq: durable, hub: hub)
        }
        let router = ShardRouter(shards: shards)
        let tails = TailHub()
        let snapshotter = Snapshotter(store: SnapshotStore(path: config.dataPath), shards: shards, log: log, every: config.snapshotEvery,
                                      lastSeq: recovered.snapshot?.seq ?? 0, status: durability, warn: config.warn)
        log.start(observer: SnapshotTrigger(next: DurabilityFanOut(router: router, tails: tails), snapshotter: snapshotter),
                  appendersWrite: true)
        let context = ServerContext(config: config, router: router, board: board, hub: hub, tails: tails, log: log, durability: durability)
        snapshotter.start()
        let verifier = BackgroundVerifier(directory: LogDirectory(path: config.dataPath), skipped: recovered.skippedSegments,
                                          next: recovered.firstSegmentRead, snapshotSeq: recovered.snapshot?.seq ?? 0,
                                          status: durability, warn: config.warn)
        verifier.start()
        let connectionQueue = DispatchQueue.global(qos: .userInitiated)
        let loops: EventLoopGroup
        do throws(Errno) { loops = try EventLoopGroup(count: Self.loopCount) } catch {
            socket.close()
            opened.lock.close()
            throw .listen(SocketError(operation: "epoll_create", errno: error))
        }
        loops.start()
        let listener = Listener(socket: socket) { client in
            guard context.stats.connections.load(ordering: .relaxed) < config.maxConnections else {
                context.stats.refusedConnections.add(1, ordering: .relaxed)
                client.refuse(ProtocolError(.tooManyConnections, "the server holds \(config.maxConnections) connections; try again later").line)
                return
            }
            Connection(socket: client, context: context, target: connectionQueue, loop: loops.next()).start()
        }
        listener.start()
        return Server(config: config, port: socket.localPort, recovery: opened.recovery, context: context,
                      listener: listener, loops: loops, snapshotter: snapshotter, verifier: verifier, lock: opened.lock)
    }

    /// Event loop threads. One: it only reads and parses (the shards' queues and the log writer
    /// do the rest on the other core); two measured no faster at 16 × 16 on 2 cores and switched
    /// threads 50% more often.
    static let loopCount = 1

    /// Counters as `STATS` shows them.
    public func stats() -> [String] { context.statsBlock() }

    /// Stops accepting, waits for every accepted command to be written and synced (and its reply
    /// released), tells connected clients `BYE`, writes a final snapshot, and closes. The process
    /// may exit afterwards.
    public func shutdown() {
        listener.stop()
        verifier.stop()
        sweeper.stop()
        context.log.close()
        // Let the shards release the last replies, then the connections write them.
        for shard in context.router.shards { shard.drain() }
        for connection in context.openConnections {
            connection.queue.sync {}
            connection.shutdown(farewell: "BYE server shutting down")
        }
        for connection in context.openConnections { connection.queue.sync {} }
        loops.stop()
        context.hub.stop()
        snapshotter.finish()
        lock.close()
    }
}
