import PollTallyLog
import Synchronization

/// The server's event loops, one thread each; connections are spread over them in turn.
final class EventLoopGroup: Sendable {
    let loops: [EventLoop]
    private let turn = Atomic<Int>(0)

    init(count: Int, afterEvents: @escaping @Sendable () -> Void = {}) throws(Errno) {
        var loops: [EventLoop] = []
        for index in 0..<max(1, count) {
            loops.append(try EventLoop(name: "polltally-loop-\(index)", afterEvents: afterEvents))
        }
        self.loops = loops
    }

    func start() { for loop in loops { loop.start() } }

    /// The loop for the next connection.
    func next() -> EventLoop {
        loops[turn.add(1, ordering: .relaxed).oldValue % loops.count]
    }

    func stop() { for loop in loops { loop.stop() } }
}
