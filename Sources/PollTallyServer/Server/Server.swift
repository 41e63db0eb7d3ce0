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
    private let sweeper: ConnectionSweeper
    private let lock: FileDescriptor

    private init(config: ServerConfig, port: Int, recovery: EventLog.Recovery, context: ServerContext, listener: Listener, lock: FileDescriptor) {
        self.config = config
        self.port = port
        self.recovery = recovery
        self.context = context
        self.listener = listener
        self.sweeper = ConnectionSweeper(context: context)
        self.lock = lock
    }

    /// Opens the data folder, replays the log into the projections, and starts listening.
    public static func start(_ config: ServerConfig) throws(ServerError) -> Server {
        guard config.shards >= 1 else { throw .badConfig("need at least one shard") }
        var projections = Array(repeating: Projection(limits: .init(maxOptions: config.maxOptions)), count: config.shards)
        let opened: EventLog.Opened
        do throws(LogError) {
            let directory = LogDirectory(path: config.dataPath)
            opened = try EventLog.open(directory, options: .init(fsync: config.fsync, segmentSize: config.segmentSize, io: config.logIO)) {
                event, location throws(LogError) in
                let index = ShardRouter.shardIndex(of: event.body.poll, count: config.shards)
                do throws(TallyRule) {
                    try projections[index].apply(event)
                } catch {
                    throw .invalidEvent(path: location.path, offset: location.offset, seq: event.seq, reason: "\(error)")
                }
            }
        } catch {
            throw .log(error)
        }
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
            PollShard(index: index, projection: projection, log: log, board: board, durableSeq: durable,
                      published: { [hub] tallies in hub.published(tallies) })
        }
        let router = ShardRouter(shards: shards)
        let tails = TailHub()
        log.start(observer: DurabilityFanOut(router: router, tails: tails))
        let context = ServerContext(config: config, router: router, board: board, hub: hub, tails: tails, log: log)
        let connectionQueue = DispatchQueue.global(qos: .userInitiated)
        let listener = Listener(socket: socket) { client in
            Connection(socket: client, context: context, target: connectionQueue).start()
        }
        listener.start()
        return Server(config: config, port: socket.localPort, recovery: opened.recovery, context: context,
                      listener: listener, lock: opened.lock)
    }

    /// Counters as `STATS` shows them.
    public func stats() -> [String] { context.statsBlock() }

    /// Stops accepting, waits for every accepted command to be written and synced (and its reply
    /// released), tells connected clients `BYE`, and closes. The process may exit afterwards.
    public func shutdown() {
        listener.stop()
        sweeper.stop()
        context.log.close()
        // Let the shards release the last replies, then the connections write them.
        for shard in context.router.shards { shard.drain() }
        for connection in context.openConnections {
            connection.queue.sync {}
            connection.shutdown(farewell: "BYE server shutting down")
        }
        for connection in context.openConnections { connection.queue.sync {} }
        context.hub.stop()
        lock.close()
    }
}
