public import PollTallyLog

/// Everything `polltally serve` can be told, with the documented defaults.
public struct ServerConfig: Sendable {
    /// The address to listen on; 127.0.0.1 unless told otherwise.
    public var host = "127.0.0.1"
    /// The TCP port; 0 picks a free one (tests read it back from `Server.port`).
    public var port = 7070
    /// The data folder holding the log.
    public var dataPath = "./polltally-data"
    public var fsync: FsyncPolicy = .always
    /// Size at which the log rolls over to a new segment file.
    public var segmentSize: Int64 = 64 << 20
    /// The longest request line, in bytes.
    public var maxLine = 4096
    /// Pending reply bytes past which a connection is no longer read from until it drains.
    public var maxOutput = 1 << 20
    /// Requests read but not yet answered past which a connection is no longer read from.
    public var maxPendingReplies = 4096
    /// The most options a poll may have.
    public var maxOptions = 64
    /// The longest question, in bytes.
    public var maxQuestion = 1024
    /// A connection that accepts no bytes at all for this long, with replies pending, is closed.
    public var stallTimeout: Duration = .seconds(60)
    /// A connection that sends nothing for this long, and neither watches nor tails, is closed.
    public var idleTimeout: Duration = .seconds(300)
    /// Connections held at once; past it a new client gets `ERR too-many-connections` and is closed.
    public var maxConnections = 10_000
    /// Who may do what (`--token-file`, `--read-token-file`).
    public var access = AccessPolicy()
    /// How long a wrong `AUTH` waits before `ERR auth-failed`, to slow guessing.
    public var authFailureDelay: Duration = .milliseconds(250)
    /// How often watchers get coalesced `UPDATE` lines.
    public var watchInterval: Duration = .milliseconds(50)
    /// Projection actors; polls are spread over them. Defaults to the number of cores.
    public var shards: Int
    /// The log's file layer; tests swap in one that fails.
    public var logIO: any LogFileIO = SystemLogFileIO()
    /// Write a snapshot of all projection state every this many durable events, and at clean
    /// shutdown; 0 never writes one (a start still loads an existing one).
    public var snapshotEvery: UInt64 = 1_000_000
    /// Where the server reports damage it finds (a snapshot it cannot use, a damaged old segment):
    /// one line each, to stderr unless a test captures them.
    public var warn: @Sendable (String) -> Void = StandardError.line

    public init(shards: Int = 0) {
        self.shards = shards > 0 ? shards : max(2, SystemInfo.activeCores)
    }
}
