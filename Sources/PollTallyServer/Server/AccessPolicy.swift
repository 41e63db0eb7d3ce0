import PollTallyCore

/// Who may do what: with no token configured every client may do everything; with a token, a
/// client must `AUTH` first, and a second, read-only token allows only reading.
///
/// Tokens are compared in constant time (the time depends on neither their content nor where
/// they differ) and are never logged.
public struct AccessPolicy: Sendable {
    /// What an authenticated (or unauthenticated) client may do.
    public enum Access: Sendable, Equatable {
        /// Only `PING`, `HELP`, `QUIT` and `AUTH`.
        case none
        /// Also `TALLY`, `RESULTS`, `POLLS`, `WATCH`, `UNWATCH`, `TAIL`, `STATS`.
        case readOnly
        /// Everything.
        case full
    }

    private let fullToken: [UInt8]?
    private let readToken: [UInt8]?

    public init(fullToken: String? = nil, readToken: String? = nil) {
        self.fullToken = fullToken.map { Array($0.utf8) }
        self.readToken = readToken.map { Array($0.utf8) }
    }

    /// Whether clients must authenticate.
    public var requiresAuth: Bool { fullToken != nil || readToken != nil }

    /// The access of a client that has not authenticated.
    public var initialAccess: Access { requiresAuth ? .none : .full }

    /// The access `token` grants, or nil when it matches neither token.
    func access(for token: [UInt8]) -> Access? {
        // Compare against both, always, so the time does not tell which one (if any) matched.
        let full = fullToken.map { Self.constantTimeEquals($0, token) } ?? false
        let read = readToken.map { Self.constantTimeEquals($0, token) } ?? false
        if full { return .full }
        if read { return .readOnly }
        return nil
    }

    /// Whether `access` allows `request`.
    static func allows(_ access: Access, _ request: Request) -> Bool {
        switch request {
        case .ping, .help, .quit, .auth:
            return true
        case .tally, .results, .polls, .watch, .watchAll, .unwatch, .tail, .stats:
            return access != .none
        case .command:
            return allowsCommands(access)
        }
    }

    /// Whether `access` may send commands (which append events).
    static func allowsCommands(_ access: Access) -> Bool {
        access == .full
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // The lengths are compared in full (not truncated), the bytes over the longer length.
        var difference = a.count ^ b.count
        let length = max(a.count, b.count)
        for i in 0..<length {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= Int(x ^ y)
        }
        return difference == 0
    }
}
