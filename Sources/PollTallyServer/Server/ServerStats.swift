import Synchronization

/// Counters shown by `STATS`. Atomics: bumped from every connection's queue, read rarely.
final class ServerStats: Sendable {
    let connections = Atomic<Int>(0)
    let connectionsTotal = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let slowConsumers = Atomic<Int>(0)
    let authFailures = Atomic<Int>(0)
    let refusedConnections = Atomic<Int>(0)
    let startedAt = ContinuousClock.now
}
