import Dispatch
import PollTallyLog
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Accepts connections on a listening socket and hands each to `onAccept`.
///
/// Confined to its queue (hence `@unchecked Sendable`). Dispatch's read source fires once per
/// readiness, so each event accepts until EAGAIN. When the process is out of file descriptors
/// (EMFILE/ENFILE) accepting pauses for 100 ms instead of spinning.
final class Listener: @unchecked Sendable {
    let socket: Socket
    private let queue = DispatchQueue(label: "polltally.accept", qos: .userInitiated)
    private let source: any DispatchSourceRead
    private let onAccept: @Sendable (Socket) -> Void
    private var paused = false
    private var stopped = false

    init(socket: Socket, onAccept: @escaping @Sendable (Socket) -> Void) {
        self.socket = socket
        self.onAccept = onAccept
        self.source = DispatchSource.makeReadSource(fileDescriptor: socket.fd, queue: queue)
    }

    func start() {
        source.setEventHandler { [self] in acceptPending() }
        source.setCancelHandler { [self] in socket.close() }
        source.resume()
    }

    /// Stops accepting and closes the listening socket; returns once done.
    func stop() {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            source.cancel()
            if paused { paused = false; source.resume() }
        }
    }

    private func acceptPending() {
        while !stopped {
            do throws(Errno) {
                guard let client = try socket.accept() else { return }
                onAccept(client)
            } catch {
                if error.rawValue == EMFILE || error.rawValue == ENFILE {
                    pause()
                }
                return
            }
        }
    }

    private func pause() {
        guard !paused else { return }
        paused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            guard paused, !stopped else { return }
            paused = false
            source.resume()
        }
    }
}
