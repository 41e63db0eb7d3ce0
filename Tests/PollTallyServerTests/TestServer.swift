import PollTallyTestSupport
import Foundation
import PollTallyCore
import PollTallyLog
@testable import PollTallyServer
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A fresh, unique temporary folder; removed by `removeTemporaryFolder`.
func makeTemporaryFolder(_ label: String = "polltally-itest") -> String {
    var template = Array("\(NSTemporaryDirectory())/\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: errno \(errno)")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeTemporaryFolder(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// An in-process server on an ephemeral port, in its own data folder.
final class TestServer {
    let dataPath: String
    private(set) var server: Server
    var port: Int { server.port }
    private var running = true

    /// Starts a server on port 0; `dataPath` nil makes a fresh temporary folder.
    init(dataPath: String? = nil, configure: (inout ServerConfig) -> Void = { _ in }) throws {
        let path = dataPath ?? makeTemporaryFolder()
        self.dataPath = path
        self.server = try Self.startServer(path, configure)
    }

    static func startServer(_ path: String, _ configure: (inout ServerConfig) -> Void) throws -> Server {
        var config = ServerConfig()
        config.port = 0
        config.dataPath = path + "/data"
        configure(&config)
        return try Server.start(config)
    }

    /// The folder holding the log segments.
    var logPath: String { server.config.dataPath }

    func client() throws -> TestClient { try TestClient(port: port) }

    /// Shuts the server down (idempotent).
    func shutdown() {
        guard running else { return }
        running = false
        server.shutdown()
    }

    /// Shuts down and starts a new server on the same folder.
    func restart(configure: (inout ServerConfig) -> Void = { _ in }) throws {
        shutdown()
        server = try Self.startServer(dataPath, configure)
        running = true
    }

    /// Shuts down and removes the folder.
    func finish() {
        shutdown()
        removeTemporaryFolder(dataPath)
    }
}

/// Runs `body` with a fresh server, always shutting it down and removing its folder afterwards.
func withServer<T>(configure: (inout ServerConfig) -> Void = { _ in }, _ body: (TestServer) throws -> T) throws -> T {
    let server = try TestServer(configure: configure)
    defer { server.finish() }
    return try body(server)
}

/// Runs `body(index)` on `count` threads at once and waits for all; rethrows the first error.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let errors = ErrorBox()
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            do { try body(index) } catch { errors.record(error) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    guard group.wait(timeout: .now() + 60) == .success else { throw TestClientError("threads did not finish within 60 s") }
    if let error = errors.first { throw error }
}

/// Collects errors from threads.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func record(_ error: any Error) { lock.lock(); errors.append(error); lock.unlock() }
    var first: (any Error)? { lock.lock(); defer { lock.unlock() }; return errors.first }
}

/// The parts of a `TALLY <poll> <seq> <open|closed> <opt>=<n> … total=<n>` line.
struct ParsedTally: Equatable {
    var poll: String
    var seq: UInt64
    var isOpen: Bool
    var counts: [String: Int]
    var order: [String]
    var total: Int

    init?(_ line: String, prefix: String = "TALLY") {
        let fields = line.split(separator: " ").map(String.init)
        guard fields.count >= 5, fields[0] == prefix, let seq = UInt64(fields[2]) else { return nil }
        guard fields[3] == "open" || fields[3] == "closed" else { return nil }
        poll = fields[1]
        self.seq = seq
        isOpen = fields[3] == "open"
        counts = [:]
        order = []
        for field in fields[4..<(fields.count - 1)] {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let n = Int(parts[1]) else { return nil }
            counts[String(parts[0])] = n
            order.append(String(parts[0]))
        }
        guard fields.last!.hasPrefix("total="), let total = Int(fields.last!.dropFirst(6)) else { return nil }
        self.total = total
    }
}

/// Replays the log in `path` in process and returns each poll's `TALLY` line, as `polltally replay` prints them.
func replayTallyLines(_ path: String) throws -> [String] {
    var projection = Projection(limits: .init(maxOptions: 255))
    _ = try LogScanner(directory: LogDirectory(path: path)).scan { event, _ throws(LogError) in
        do throws(TallyRule) { try projection.apply(event) } catch {
            throw .invalidEvent(path: path, offset: -1, seq: event.seq, reason: "\(error)")
        }
    }
    return projection.tallies.map(ReplyFormat.tallyLine)
}

/// Every event of the log in `path`.
func scanEvents(_ path: String) throws -> [Event] {
    var events: [Event] = []
    _ = try LogScanner(directory: LogDirectory(path: path)).scan { event, _ in events.append(event) }
    return events
}

/// Polls `condition` every 5 ms until it holds or `timeout` seconds pass; returns whether it held.
func waitUntil(timeout: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = TestClient.now() + timeout
    while TestClient.now() < deadline {
        if try condition() { return true }
        usleep(5_000)
    }
    return try condition()
}

