import Dispatch

/// Once a second, asks every open connection to check its stall and idle timeouts.
///
/// `@unchecked Sendable`: the timer is created in `init` and touched again only by `stop`.
final class ConnectionSweeper: @unchecked Sendable {
    private let timer: any DispatchSourceTimer

    init(context: ServerContext) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "polltally.sweeper", qos: .utility))
        timer.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1), leeway: .milliseconds(100))
        timer.setEventHandler { [weak context] in
            guard let context else { return }
            let now = Connection.now()
            for connection in context.openConnections { connection.sweep(now: now) }
        }
        timer.resume()
    }

    func stop() {
        timer.cancel()
    }
}
