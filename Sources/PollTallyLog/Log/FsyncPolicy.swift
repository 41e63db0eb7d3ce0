/// When the log writer calls fdatasync, and so when a command is acknowledged.
public enum FsyncPolicy: Equatable, Sendable, CustomStringConvertible {
    /// fdatasync after every batch; a command is acknowledged only once its event is on stable storage.
    case always
    /// Acknowledge once written to the OS; fdatasync at most every `milliseconds`.
    /// A power loss or kernel crash can lose up to that long of acknowledged commands; a process crash loses none.
    case interval(milliseconds: Int)
    /// Acknowledge once written to the OS; never fdatasync (the kernel flushes when it likes, typically within 30 s).
    case never

    /// Parses `always`, `interval:<ms>` (1–3,600,000) or `never`.
    public init?(_ text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)), ms >= 1, ms <= 3_600_000 else {
                return nil
            }
            self = .interval(milliseconds: ms)
        }
    }

    public var description: String {
        switch self {
        case .always: return "always"
        case .interval(let ms): return "interval:\(ms)"
        case .never: return "never"
        }
    }
}
