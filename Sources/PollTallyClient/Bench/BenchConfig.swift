#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Everything one `polltally bench` run needs: where the server is, which protocol it speaks, the
/// workload's shape and the concurrency.
public struct BenchConfig: Sendable {
    /// The server kind.
    public enum Target: String, Sendable {
        case polltally
        case redis
    }

    /// What each request does: a vote (PollTally's VOTE, Redis's vote script), a bare Redis counter
    /// increment, or a PING: the floor, the fastest the server can answer this client at all.
    public enum Command: String, Sendable {
        case vote
        /// Redis only.
        case hincrby
        /// Both targets: no poll, no shard, no log; the reply is PONG.
        case ping
    }

    public var host = "127.0.0.1"
    public var port = 7070
    public var target = Target.polltally
    public var command = Command.vote
    public var connections = 16
    /// Requests in flight per connection.
    public var depth = 16
    /// Threads that drive the connections, each over epoll (`LoadMultiplexer`); 0: one thread
    /// per connection, blocking in its reads (`LoadClient`); nil: one per core.
    public var clientThreads: Int?
    public var polls = 100
    public var options = 4
    public var voters = 200_000
    public var votes = 1_000_000
    public var seed: UInt64 = 1
    /// The server's process id, for its peak RSS from /proc.
    public var pid: Int?
    /// Create the polls (and, for Redis, their option sets) before the load; a PING load sets nothing up.
    public var setup = true
    public var redisSHA: String?
    public var redisScript = "Benchmarks/vote.lua"
    /// Seconds a connection waits for the server before the run fails as stalled.
    public var timeoutSeconds = 60

    public init() {}

    /// `polltally`, `polltally-ping`, `redis`, `redis-hincrby` or `redis-ping`.
    public var label: String {
        switch (target, command) {
        case (.polltally, .ping): return "polltally-ping"
        case (.polltally, _): return "polltally"
        case (.redis, .vote): return "redis"
        case (.redis, .hincrby): return "redis-hincrby"
        case (.redis, .ping): return "redis-ping"
        }
    }

    /// `clientThreads`, or the number of cores, never more than the connections.
    public var clientThreadCount: Int {
        guard let clientThreads else { return max(1, min(connections, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }
        return min(clientThreads, connections)
    }

    /// Whether the run creates polls first: `setup`, unless the load is PINGs, which need none.
    public var createsPolls: Bool { setup && command != .ping }
}
