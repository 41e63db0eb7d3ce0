/// Everything one `polltally bench` run needs: where the server is, which protocol it speaks, the
/// workload's shape and the concurrency.
public struct BenchConfig: Sendable {
    /// The server kind.
    public enum Target: String, Sendable {
        case polltally
        case redis
    }

    /// What each Redis request does: the vote script, or a bare counter increment.
    public enum RedisCommand: String, Sendable {
        case vote
        case hincrby
    }

    public var host = "127.0.0.1"
    public var port = 7070
    public var target = Target.polltally
    public var redisCommand = RedisCommand.vote
    public var connections = 16
    /// Requests in flight per connection.
    public var depth = 16
    public var polls = 100
    public var options = 4
    public var voters = 200_000
    public var votes = 1_000_000
    public var seed: UInt64 = 1
    /// The server's process id, for its peak RSS from /proc.
    public var pid: Int?
    /// Create the polls (and, for Redis, their option sets) before the load.
    public var setup = true
    public var redisSHA: String?
    public var redisScript = "Benchmarks/vote.lua"
    /// Seconds a connection waits for the server before the run fails as stalled.
    public var timeoutSeconds = 60

    public init() {}

    /// `polltally`, `redis` or `redis-hincrby`.
    public var label: String {
        switch (target, redisCommand) {
        case (.polltally, _): return "polltally"
        case (.redis, .vote): return "redis"
        case (.redis, .hincrby): return "redis-hincrby"
        }
    }
}
