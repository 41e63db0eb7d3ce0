import Dispatch
import Foundation
import PollTallyLog
import PollTallyServer
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally serve`: runs the server until SIGINT or SIGTERM.
enum ServeCommand: Command {
    static let name = "serve"
    static let summary = "run the server"
    static let flags: Set<String> = ["host", "port", "data", "fsync", "segment-size", "max-line", "max-output", "watch-interval", "shards", "stall-timeout", "idle-timeout",
                                          "max-connections", "max-options", "token-file", "read-token-file", "snapshot-every"]
    static let usage = """
        usage: polltally serve [--host 127.0.0.1] [--port 7070] [--data ./polltally-data]
                               [--fsync always|interval:MS|never] [--segment-size BYTES]
                               [--max-line 4096] [--max-output 1048576] [--watch-interval 50] [--shards N]
                               [--stall-timeout 60] [--idle-timeout 300] [--max-connections 10000]
                               [--max-options 64] [--token-file PATH] [--read-token-file PATH]
                               [--snapshot-every 1000000]

          --host            address to listen on (default 127.0.0.1)
          --port            TCP port, 0 for any free one (default 7070)
          --data            data folder holding the log (default ./polltally-data)
          --fsync           always: acknowledge after fdatasync (default)
                            interval:MS: acknowledge after write, fdatasync every MS milliseconds
                            never: acknowledge after write, never fdatasync
          --segment-size    roll the log to a new file at this size (default 67108864)
          --max-line        longest request line in bytes (default 4096)
          --max-output      pending reply bytes before a client is no longer read (default 1048576)
          --watch-interval  milliseconds between coalesced UPDATE lines (default 50)
          --shards          projection actors (default: number of cores)
          --stall-timeout   seconds a client may accept no bytes while replies wait (default 60)
          --idle-timeout    seconds a client that neither watches nor tails may stay silent (default 300)
          --max-connections clients held at once; more get ERR too-many-connections (default 10000)
          --max-options     most options a poll may have (default 64)
          --token-file      clients must send AUTH <token> with the token in this file first
                            (or set POLLTALLY_TOKEN); without one, anyone who can connect may vote
          --read-token-file a second token that allows only reading (TALLY, RESULTS, POLLS, WATCH,
                            TAIL, STATS)
          --snapshot-every  write a snapshot of all tallies and ballots every N events, in the
                            background, and at SIGINT/SIGTERM; a restart loads the newest and
                            reads only the log after it; 0: never (default 1000000)
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
        // From the very start, before any other thread exists (a supervisor may send SIGTERM as
        // soon as it sees the listening line): SIGINT/SIGTERM stay pending until the main thread
        // takes them, once the server is up.
        let stopSignals = blockStopSignals()
        var config = ServerConfig(shards: try arguments.integer("shards", default: 0, in: 0...256))
        config.host = arguments.string("host") ?? config.host
        config.port = try arguments.integer("port", default: config.port, in: 0...65535)
        config.dataPath = arguments.string("data") ?? config.dataPath
        if let text = arguments.string("fsync") {
            guard let policy = FsyncPolicy(text) else {
                throw .init(message: "--fsync must be always, interval:<ms> or never, not '\(text)'")
            }
            config.fsync = policy
        }
        config.segmentSize = try arguments.integer("segment-size", default: config.segmentSize, in: 4096...(1 << 40))
        config.maxLine = try arguments.integer("max-line", default: config.maxLine, in: 64...(1 << 20))
        config.maxOutput = try arguments.integer("max-output", default: config.maxOutput, in: 4096...(1 << 30))
        config.watchInterval = .milliseconds(try arguments.integer("watch-interval", default: 50, in: 1...60_000))
        config.stallTimeout = .seconds(try arguments.integer("stall-timeout", default: 60, in: 1...86_400))
        config.idleTimeout = .seconds(try arguments.integer("idle-timeout", default: 300, in: 1...86_400))
        config.maxConnections = try arguments.integer("max-connections", default: config.maxConnections, in: 1...1_000_000)
        config.maxOptions = try arguments.integer("max-options", default: config.maxOptions, in: 2...255)
        config.access = try accessPolicy(arguments)
        config.snapshotEvery = try arguments.integer("snapshot-every", default: config.snapshotEvery, in: 0...(UInt64(1) << 62))

        signal(SIGPIPE, SIG_IGN)
        let limit = SystemInfo.raiseOpenFileLimit(to: config.maxConnections + 256)
        if limit.after > limit.before {
            Output.out("raised the open-file limit from \(limit.before) to \(limit.after)")
        }
        if limit.after < config.maxConnections + 64 {
            Output.err("polltally: warning: the open-file limit is \(limit.after), below --max-connections \(config.maxConnections); new clients will wait once it is reached")
        }
        if !["127.0.0.1", "localhost"].contains(config.host) && !config.access.requiresAuth {
            Output.err("polltally: WARNING: listening on \(config.host) without a token: anyone who can reach this port can create polls and vote. Use --token-file (see Docs/SECURITY.md).")
        }
        let server: Server
        do throws(ServerError) {
            server = try Server.start(config)
        } catch {
            Output.err("polltally serve: \(error)")
            return 1
        }
        report(server)
        let signalNumber = waitForOne(of: stopSignals)
        Output.err("polltally: signal \(signalNumber), shutting down")
        server.shutdown()
        Output.err("polltally: log synced, bye")
        _exit(0)  // everything is synced and said; skip atexit handlers, which can deadlock with other threads
    }

    /// Reads the tokens: `--token-file` or `POLLTALLY_TOKEN`, and `--read-token-file`.
    private static func accessPolicy(_ arguments: Arguments) throws(Arguments.UsageError) -> AccessPolicy {
        func token(fromFile path: String, _ flag: String) throws(Arguments.UsageError) -> String {
            guard let text = Output.readSmallFile(path) else { throw .init(message: "--\(flag): cannot read \(path)") }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty, !token.contains(where: { $0 == " " || $0 == "\t" }) else {
                throw .init(message: "--\(flag): \(path) must hold one token without spaces")
            }
            return token
        }
        var full: String?
        if let path = arguments.string("token-file") {
            full = try token(fromFile: path, "token-file")
        } else if let value = ProcessInfo.processInfo.environment["POLLTALLY_TOKEN"] {
            let token = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty, !token.contains(where: { $0 == " " || $0 == "\t" }) else {
                throw .init(message: "POLLTALLY_TOKEN must hold one token without spaces")
            }
            full = token
        }
        let read = try arguments.string("read-token-file").map { path throws(Arguments.UsageError) in try token(fromFile: path, "read-token-file") }
        if read != nil && full == nil { throw .init(message: "--read-token-file needs a full token too (--token-file or POLLTALLY_TOKEN)") }
        return AccessPolicy(fullToken: full, readToken: read)
    }

    /// The start-up lines, written with one write(2) so that whoever sees the listening line
    /// (a supervisor, a test) sees the recovery line too.
    private static func report(_ server: Server) {
        let recovery = server.recovery
        if let cut = recovery.cutTail {
            Output.err("polltally: cut a torn tail: \(cut)")
        }
        let config = server.config
        let ms = (recovery.seconds * 1000 * 10).rounded() / 10
        let recovered = recovery.snapshotSeq > 0
            ? "recovered \(recovery.events) events (last seq \(recovery.lastSeq), snapshot at seq \(recovery.snapshotSeq) + \(recovery.logEvents) from the log, \(recovery.bytesRead) bytes of log read) in \(ms) ms"
            : "recovered \(recovery.events) events (last seq \(recovery.lastSeq), \(recovery.bytesRead) bytes) in \(ms) ms"
        Output.out([
            "polltally listening on \(config.host):\(server.port)",
            "data folder \(config.dataPath) (fsync \(config.fsync))",
            recovered,
            "try: nc \(config.host) \(server.port)   then type PING or HELP",
        ].joined(separator: "\n"))
    }

    /// Blocks SIGINT and SIGTERM in the calling (main) thread, and so in every thread started
    /// after it, and returns that set. A signal sent from then on stays pending until
    /// `waitForOne(of:)` takes it, so none is lost and none kills the process outright.
    ///
    /// Not `dispatchMain()` with Dispatch signal sources: on Linux `dispatchMain` parks the main
    /// thread in `sigsuspend` with every signal unblocked, and a source installs its handler
    /// asynchronously, on Dispatch's manager thread; a SIGTERM sent right after the listening line
    /// could land before that, and the process either ignored it or died of it.
    private static func blockStopSignals() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        return signals
    }

    /// Waits until one of `signals` (blocked) is pending, takes it and returns its number.
    private static func waitForOne(of signals: sigset_t) -> Int32 {
        var signals = signals
        var signalNumber: Int32 = 0
        while sigwait(&signals, &signalNumber) != 0 {}
        return signalNumber
    }
}
