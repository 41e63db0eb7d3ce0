import PollTallyTestSupport
import Foundation
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The built `polltally` executable, found next to the test bundle.
enum PolltallyBinary {
    /// Absolute path of the executable; the test target depends on it, so it sits in the same build folder.
    static let path: String = {
        let found = locate()
        print("polltally binary under test: \(found ?? "NOT FOUND")")
        return found ?? "polltally-binary-not-found"
    }()

    private static func locate() -> String? {
        if let override = ProcessInfo.processInfo.environment["POLLTALLY_BINARY"], isExecutable(override) { return override }
        var starts = [CommandLine.arguments.first ?? "", Bundle.main.bundlePath]
        if let executable = Bundle.main.executablePath { starts.append(executable) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { starts.append(exe) }
        for start in starts where !start.isEmpty {
            var url = URL(fileURLWithPath: start, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                .standardizedFileURL.resolvingSymlinksInPath()
            for _ in 0..<6 {
                let candidate = url.appendingPathComponent("polltally").path
                if isExecutable(candidate) { return candidate }
                let parent = url.deletingLastPathComponent()
                if parent.path == url.path { break }
                url = parent
            }
        }
        return nil
    }

    private static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}

struct ProcessTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func makeTemporaryFolder(_ label: String = "polltally-ptest") -> String {
    var template = Array("\(NSTemporaryDirectory())/\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: errno \(errno)")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeTemporaryFolder(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func readTextFile(_ path: String) -> String {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
}

/// How a finished process ended.
struct Exit: Equatable, CustomStringConvertible {
    var signaled: Bool
    var status: Int32
    var description: String { signaled ? "killed by signal \(status)" : "exit \(status)" }
    static func code(_ status: Int32) -> Exit { Exit(signaled: false, status: status) }
    static func signal(_ number: Int32) -> Exit { Exit(signaled: true, status: number) }
}

/// A child `polltally` process with stdout and stderr captured in files (no pipes to fill up).
final class ChildProcess {
    let process = Process()
    let folder: String
    let stdoutPath: String
    let stderrPath: String
    let arguments: [String]

    init(_ arguments: [String]) throws {
        self.arguments = arguments
        folder = makeTemporaryFolder("polltally-proc")
        stdoutPath = folder + "/stdout"
        stderrPath = folder + "/stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: PolltallyBinary.path)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    deinit {
        stop()
        removeTemporaryFolder(folder)
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { readTextFile(stdoutPath) }
    var stderr: String { readTextFile(stderrPath) }

    func send(_ signal: Int32) {
        if process.isRunning { kill(pid, signal) }
    }

    /// Waits up to `timeout` seconds for the process to end; nil if it is still running.
    func waitForExit(timeout: Double = 10) -> Exit? {
        let deadline = TestClient.now() + timeout
        while process.isRunning {
            if TestClient.now() > deadline { return nil }
            usleep(2_000)
        }
        process.waitUntilExit()
        return Exit(signaled: process.terminationReason == .uncaughtSignal, status: process.terminationStatus)
    }

    /// Kills the process if it still runs and reaps it (always safe to call).
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        _ = waitForExit(timeout: 10)
    }
}

/// Runs `polltally <arguments>` to completion.
func runPolltally(_ arguments: [String], timeout: Double = 30) throws -> (exit: Exit, stdout: String, stderr: String) {
    let child = try ChildProcess(arguments)
    guard let exit = child.waitForExit(timeout: timeout) else {
        child.stop()
        throw ProcessTestError("polltally \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
    }
    return (exit, child.stdout, child.stderr)
}

/// A `polltally serve` child on an ephemeral port.
final class ServerProcess {
    let child: ChildProcess
    let dataPath: String
    let port: Int

    /// Starts `serve --port 0 --data <dataPath>` and waits for its `listening` line.
    init(dataPath: String, extra: [String] = [], timeout: Double = 15) throws {
        self.dataPath = dataPath
        child = try ChildProcess(["serve", "--port", "0", "--data", dataPath] + extra)
        let deadline = TestClient.now() + timeout
        var port: Int?
        while port == nil {
            port = Self.listeningPort(child.stdout)
            if port != nil { break }
            if !child.process.isRunning {
                _ = child.waitForExit()
                throw ProcessTestError("serve exited before listening: \(child.process.terminationStatus); stderr: \(child.stderr)")
            }
            if TestClient.now() > deadline {
                child.stop()
                throw ProcessTestError("serve did not print its listening line within \(timeout) s; stdout: \(child.stdout) stderr: \(child.stderr)")
            }
            usleep(5_000)
        }
        self.port = port!
    }

    static func listeningPort(_ stdout: String) -> Int? {
        for line in stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let prefix = "polltally listening on 127.0.0.1:"
            if line.hasPrefix(prefix), let port = Int(line.dropFirst(prefix.count)) { return port }
        }
        return nil
    }

    var pid: Int32 { child.pid }
    func client() throws -> TestClient { try TestClient(port: port) }
    func stop() { child.stop() }

    /// SIGTERM, then waits for the exit.
    func terminate(timeout: Double = 15) -> Exit? {
        child.send(SIGTERM)
        return child.waitForExit(timeout: timeout)
    }
}

/// Runs `body(index)` on `count` threads at once and waits for all; rethrows the first error.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let errors = Locked([any Error]())
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            do { try body(index) } catch { errors.withLock { $0.append(error) } }
        }
        thread.start()
    }
    guard group.wait(timeout: .now() + 60) == .success else { throw ProcessTestError("threads did not finish within 60 s") }
    if let error = errors.withLock({ $0.first }) { throw error }
}

/// Polls `condition` every 2 ms until it holds or `timeout` seconds pass.
func waitUntil(timeout: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = TestClient.now() + timeout
    while TestClient.now() < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}

/// One parsed `EVENT <seq> <ms> <KIND> <args…>` line of `polltally dump`.
struct DumpedEvent: Equatable {
    var seq: UInt64
    var ms: Int64
    var command: String

    init?(_ line: String) {
        let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0] == "EVENT", let seq = UInt64(fields[1]), let ms = Int64(fields[2]) else { return nil }
        self.seq = seq
        self.ms = ms
        command = String(fields[3])
    }
}

/// `polltally dump --data <path>`, parsed; fails the test on a bad exit or line.
func dumpEvents(_ dataPath: String) throws -> [DumpedEvent] {
    let result = try runPolltally(["dump", "--data", dataPath])
    guard result.exit == .code(0) else { throw ProcessTestError("dump: \(result.exit): \(result.stderr)") }
    return try result.stdout.split(separator: "\n").map { line in
        guard let event = DumpedEvent(String(line)) else { throw ProcessTestError("bad dump line: \(line)") }
        return event
    }
}

/// `polltally replay --data <path>` output lines.
func replayLines(_ dataPath: String) throws -> [String] {
    let result = try runPolltally(["replay", "--data", dataPath])
    guard result.exit == .code(0) else { throw ProcessTestError("replay: \(result.exit): \(result.stderr)") }
    return result.stdout.split(separator: "\n").map(String.init)
}

/// The TALLY line of every poll the server lists, in POLLS order (poll-id order).
func serverTallies(_ client: TestClient) throws -> [String] {
    let polls = try client.requestBlock("POLLS").dropLast().map { String($0.split(separator: " ")[1]) }
    return try polls.map { try client.request("TALLY \($0)") }
}

/// The segment holding seq 1.
func firstSegment(_ dataPath: String) -> String { dataPath + "/00000000000000000001.log" }

func fileBytes(_ path: String) -> [UInt8] { FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? [] }

func writeFileBytes(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func wallClockMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
