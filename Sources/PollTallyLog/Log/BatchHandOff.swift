import Dispatch
import Synchronization

/// The bounded queue between replay's scanner thread and the thread that applies what it scanned:
/// the scanner fills at most `depth` batches ahead, then waits for the applier to give one back.
///
/// A `Mutex` rather than an actor: both sides are plain threads that block by design (the
/// scanner for a free batch, the applier for a filled one), and an actor cannot block them.
final class BatchHandOff: Sendable {
    /// What the scanner passes on: a batch, or the end of the scan, once.
    enum Item: Sendable {
        case batch(ScannedBatch)
        case end(Result<LogScanner.Summary, LogError>)
    }

    private struct State {
        var filled: [Item] = []
        var free: [ScannedBatch]
        var cancelled = false
    }

    private let state: Mutex<State>
    private let filledCount = DispatchSemaphore(value: 0)
    private let freeCount = DispatchSemaphore(value: 0)

    init(depth: Int) {
        state = Mutex(State(free: (0..<depth).map { _ in ScannedBatch() }))
        // Signalled up from 0, not created at `depth`: libdispatch traps when a semaphore is freed
        // below the value it was created with, and the scanner may hold batches when replay ends.
        for _ in 0..<depth { freeCount.signal() }
    }

    /// Scanner side: a batch to fill, waiting until the applier gives one back; nil once the
    /// applier has stopped (`cancel`), when the scanner should stop too.
    func takeFree() -> ScannedBatch? {
        freeCount.wait()
        return state.withLock { state in
            if state.cancelled {
                freeCount.signal()
                return nil
            }
            return state.free.popLast()
        }
    }

    /// Scanner side: hands over a filled batch, or the end.
    func put(_ item: Item) {
        state.withLock { $0.filled.append(item) }
        filledCount.signal()
    }

    /// Applier side: the next item, in the order the scanner put them, waiting for it.
    func take() -> Item {
        filledCount.wait()
        return state.withLock { $0.filled.removeFirst() }
    }

    /// Applier side: gives a batch back to be filled again.
    func recycle(_ batch: ScannedBatch) {
        state.withLock { $0.free.append(batch) }
        freeCount.signal()
    }

    /// Applier side: it will take nothing more; a scanner waiting for a batch, or asking later, gets nil.
    func cancel() {
        state.withLock { $0.cancelled = true }
        freeCount.signal()
    }
}
