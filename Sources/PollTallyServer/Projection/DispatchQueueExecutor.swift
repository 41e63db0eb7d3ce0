import Dispatch

/// A serial executor that runs an actor's jobs on a `DispatchQueue`.
///
/// It lets code already on a Dispatch queue (a connection's read handler, the log writer's thread)
/// send work to an actor with one `queue.async` instead of a `Task` per message, and keeps that work
/// in FIFO order, which `Task`s do not promise: two batches for the same poll from one connection
/// must be applied in the order they were read.
final class DispatchQueueExecutor: SerialExecutor, @unchecked Sendable {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
