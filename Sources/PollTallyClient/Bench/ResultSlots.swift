import Synchronization

/// One slot per thread for the value it hands back, filled under a lock and read after every join.
final class ResultSlots<Value: Sendable>: Sendable {
    private let slots: Mutex<[Value?]>

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: Value) { slots.withLock { $0[index] = value } }

    var values: [Value?] { slots.withLock { $0 } }
}
