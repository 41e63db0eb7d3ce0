import Dispatch
import PollTallyLog
import PollTallyServer
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally serve`: runs the server until SIGINT or SIGTERM.
enum ServeCommand: Command {
    static let name = "serve"
    static let summary = "run the server"
    static let flags: Set<String> = ["host", "port", "data", "fsync", "segment-size", "max-line", "max-output", "watch-interval", "shards", "stall-timeout", "idle-timeout"]
    static let usage = """
        usage: polltally serve [--host 127.0.0.1] [--port 7070] [--data ./polltally-data]
                               [--fsync always|interval:MS|never] [--segment-size BYTES]
                               [--max-line 4096] [--max-output 1048576] [--watch-interval 50] [--shards N]
                               [--stall-timeout 60] [--idle-timeout 300]

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
        """

    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32 {
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

        signal(SIGPIPE, SIG_IGN)
        let server: Server
        do throws(ServerError) {
            server = try Server.start(config)
        } catch {
            Output.err("polltally serve: \(error)")
            return 1
        }
        report(server)
        handleSignals(server)
        dispatchMain()
    }

    private static func report(_ server: Server) {
        let recovery = server.recovery
        if let cut = recovery.cutTail {
            Output.err("polltally: cut a torn tail: \(cut)")
        }
        let config = server.config
        Output.out("polltally listening on \(config.host):\(server.port)")
        Output.out("data folder \(config.dataPath) (fsync \(config.fsync))")
        let ms = (recovery.seconds * 1000 * 10).rounded() / 10
        Output.out("recovered \(recovery.events) events (last seq \(recovery.lastSeq), \(recovery.bytesRead) bytes) in \(ms) ms")
        Output.out("try: nc \(config.host) \(server.port)   then type PING or HELP")
    }

    private static func handleSignals(_ server: Server) {
        let queue = DispatchQueue(label: "polltally.signals")
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { @Sendable in
                Output.err("polltally: signal \(signalNumber), shutting down")
                server.shutdown()
                Output.err("polltally: log synced, bye")
                exit(0)
            }
            source.resume()
            SignalSources.keep(source)
        }
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ source: any DispatchSourceSignal) { sources.append(source) }
}
