#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Scheduling priority of the calling thread.
public enum ThreadPriority {
    /// Makes the calling thread yield the CPU to every normal thread (nice 19), for background work
    /// such as verifying old log segments. Best effort: a failure leaves the priority as it was.
    ///
    /// The corresponding C function is `setpriority(PRIO_PROCESS, 0, 19)`. On Linux the nice value
    /// belongs to each thread and `who` 0 is the calling thread, so the rest of the process keeps
    /// its priority.
    public static func lowerCurrentThread() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    }
}
