#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A POSIX thread running one closure, joined when the run ends: one per client thread of the
/// load (`LoadMultiplexer`), or one per load connection (`LoadClient`, blocking in its reads).
struct BenchThread {
    private let thread: pthread_t

    /// Starts `body` on a new thread.
    static func start(_ body: @escaping @Sendable () -> Void) throws(ClientError) -> BenchThread {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, box)
        guard status == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw ClientError("could not start a thread (error \(status))")
        }
        return BenchThread(thread: thread)
    }

    /// Waits for the thread to finish.
    func join() { pthread_join(thread, nil) }

    /// The closure, boxed to cross into the thread as one pointer.
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
