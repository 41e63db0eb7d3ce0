import PollTallyTestSupport
import Foundation
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A `polltally serve` child started with a chosen environment (and optionally through `/bin/sh`,
/// to lower its open-file limit first), with stdout and stderr captured in files.
final class SecureServe {
    let process = Process()
    let folder: String
    let stdoutPath: String
    let stderrPath: String
    private(set) var port = 0

    /// Starts `polltally serve <arguments>`; `shellPrefix` (e.g. `ulimit -Sn 1024;`) runs first in `/bin/sh`.
    init(_ arguments: [String], environment: [String: String] = [:], shellPrefix: String? = nil) throws {
        folder = makeTemporaryFolder("polltally-sec")
        stdoutPath = folder + "/stdout"
        stderrPath = folder + "/stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        var env = ProcessInfo.processInfo.environment
        env["POLLTALLY_TOKEN"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            let quoted = ([PolltallyBinary.path, "serve"] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            process.arguments = ["-c", shellPrefix + " exec " + quoted.joined(separator: " ")]
        } else {
            process.executableURL = URL(fileURLWithPath: PolltallyBinary.path)
            process.arguments = ["serve"] + arguments
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    deinit {
        stop()
        removeTemporaryFolder(folder)
    }

    var stdout: String { readTextFile(stdoutPath) }
    var stderr: String { readTextFile(stderrPath) }

    /// Waits for `polltally listening on <host>:<port>` and returns the port.
    @discardableResult
    func waitUntilListening(host: String = "127.0.0.1", timeout: Double = 15, pollMicroseconds: UInt32 = 5_000) throws -> Int {
        let prefix = "polltally listening on \(host):"
        let deadline = TestClient.now() + timeout
        while TestClient.now() < deadline {
            for line in stdout.split(separator: "\n") where line.hasPrefix(prefix) {
                if let port = Int(line.dropFirst(prefix.count)) { self.port = port; return port }
            }
            if !process.isRunning { throw ProcessTestError("serve exited: \(process.terminationStatus); stderr: \(stderr)") }
            if pollMicroseconds > 0 { usleep(pollMicroseconds) }
        }
        throw ProcessTestError("serve did not listen within \(timeout) s; stdout: \(stdout) stderr: \(stderr)")
    }

    /// A client on the loopback address (never any other).
    func client() throws -> TestClient { try TestClient(port: port) }

    /// SIGTERM, then the exit status (nil if it did not exit in time).
    func terminate(timeout: Double = 15) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = TestClient.now() + timeout
        while process.isRunning {
            if TestClient.now() > deadline { return nil }
            usleep(2_000)
        }
        return process.terminationStatus
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// `serve`'s access control and hardening, end to end against the built binary.
@Suite("polltally serve security")
struct ServeSecurityTests {
    static func writeToken(_ folder: String, _ name: String, _ text: String) throws -> String {
        let path = folder + "/" + name
        try writeFileBytes(path, Array(text.utf8))
        return path
    }

    static func mode(_ path: String) -> (mode: UInt32, isDirectory: Bool)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt32(info.st_mode) & 0o7777, (UInt32(info.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFDIR))
    }

    @Test func wildcardHostWithoutATokenWarns() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        // Bound to 0.0.0.0 on a free port; spoken to only over loopback.
        let server = try SecureServe(["--host", "0.0.0.0", "--port", "0", "--data", folder + "/data"])
        try server.waitUntilListening(host: "0.0.0.0")
        let warnings = server.stderr.split(separator: "\n").filter { $0.contains("WARNING") }
        #expect(warnings.count == 1, "\(server.stderr)")
        #expect(warnings.first?.contains("listening on 0.0.0.0 without a token") == true, "\(server.stderr)")
        #expect(warnings.first?.contains("--token-file") == true)
        let client = try server.client()
        #expect(try client.request("PING") == "PONG")
        #expect(server.terminate() == 0)
    }

    @Test func noWarningOnLoopbackOrWithAToken() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let loopback = try SecureServe(["--port", "0", "--data", folder + "/a"])
        try loopback.waitUntilListening()
        #expect(!loopback.stderr.contains("WARNING"), "\(loopback.stderr)")
        #expect(try loopback.client().request("PING") == "PONG")
        #expect(loopback.terminate() == 0)

        let tokenFile = try Self.writeToken(folder, "token", "wild-Tok3n\n")
        let guarded = try SecureServe(["--host", "0.0.0.0", "--port", "0", "--data", folder + "/b", "--token-file", tokenFile])
        try guarded.waitUntilListening(host: "0.0.0.0")
        #expect(!guarded.stderr.contains("WARNING"), "\(guarded.stderr)")
        let client = try guarded.client()
        #expect(try client.request("CREATE p a,b") == "ERR auth-required send AUTH <token> first")
        #expect(try client.request("AUTH wild-Tok3n") == "OK")
        #expect(guarded.terminate() == 0)
    }

    @Test func environmentTokenIsRequired() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let token = "env-Tok3n-4d9e"
        let server = try SecureServe(["--port", "0", "--data", folder + "/data"], environment: ["POLLTALLY_TOKEN": token])
        try server.waitUntilListening()
        let client = try server.client()
        #expect(try client.request("PING") == "PONG")
        #expect(try client.request("CREATE p a,b") == "ERR auth-required send AUTH <token> first")
        #expect(try client.request("TALLY p") == "ERR auth-required send AUTH <token> first")
        let started = TestClient.now()
        #expect(try client.request("AUTH env-Tok3n") == "ERR auth-failed wrong token")
        #expect(TestClient.now() - started >= 0.2, "the default auth failure delay is 250 ms")
        #expect(try client.request("AUTH \(token)") == "OK")
        #expect(try client.request("CREATE p a,b") == "OK 1")
        #expect(try client.request("VOTE p v a") == "OK 2")
        #expect(server.terminate() == 0)
        #expect(!(server.stdout + server.stderr).contains(token))
    }

    @Test func tokenFilesGiveFullAndReadOnlyAccess() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let full = try Self.writeToken(folder, "full", "  full-Tok3n-77\n\n")
        let read = try Self.writeToken(folder, "read", "read-Tok3n-88\n")
        let server = try SecureServe(["--port", "0", "--data", folder + "/data", "--token-file", full, "--read-token-file", read])
        try server.waitUntilListening()
        let writer = try server.client()
        try writer.send("AUTH full-Tok3n-77\nCREATE p a,b\nVOTE p v a\n")
        #expect(try writer.readLines(3) == ["OK", "OK 1", "OK 2"])
        let reader = try server.client()
        #expect(try reader.request("AUTH read-Tok3n-88") == "OK read-only")
        #expect(try reader.request("TALLY p") == "TALLY p 2 open a=1 b=0 total=1")
        #expect(try reader.request("VOTE p w b") == "ERR auth-required this token is read-only")
        #expect(try reader.request("CLOSE p") == "ERR auth-required this token is read-only")
        #expect(server.terminate() == 0)
    }

    @Test func unreadableOrBadTokenFilesExitTwoWithOneLine() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let data = folder + "/data"
        let missing = folder + "/no-such-token"
        let empty = try Self.writeToken(folder, "empty", " \n")
        let spaced = try Self.writeToken(folder, "spaced", "two words\n")
        let good = try Self.writeToken(folder, "good", "good-Tok3n\n")
        let cases: [([String], String)] = [
            (["--token-file", missing], "polltally serve: --token-file: cannot read \(missing)"),
            (["--token-file", folder], "polltally serve: --token-file: "),
            (["--token-file", empty], "polltally serve: --token-file: \(empty) must hold one token without spaces"),
            (["--token-file", spaced], "polltally serve: --token-file: \(spaced) must hold one token without spaces"),
            (["--token-file", good, "--read-token-file", missing], "polltally serve: --read-token-file: cannot read \(missing)"),
            (["--read-token-file", good], "polltally serve: --read-token-file needs a full token too"),
        ]
        for (flags, message) in cases {
            let result = try runPolltally(["serve", "--port", "0", "--data", data] + flags)
            #expect(result.exit == .code(2), "\(flags): \(result.exit)")
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.first?.hasPrefix(message) == true, "\(flags): \(result.stderr)")
            #expect(lines.count > 1 && lines[1].hasPrefix("usage: polltally serve"), "\(flags): \(result.stderr)")
            #expect(!result.stderr.contains("good-Tok3n") && !result.stderr.contains("two words"))
            #expect(result.stdout.isEmpty, "\(flags): \(result.stdout)")
            #expect(!FileManager.default.fileExists(atPath: data), "\(flags): the server started")
        }
    }

    @Test func dataFolderIsPrivateAndItsFilesOwnerOnly() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let data = folder + "/nested/data"
        let server = try SecureServe(["--port", "0", "--data", data, "--segment-size", "4096"])
        try server.waitUntilListening()
        let client = try server.client()
        #expect(try client.request("CREATE p a,b A question long enough to fill segments " + String(repeating: "x", count: 900)) == "OK 1")
        // Three rounds, each answered before the next: the log rolls to a new segment between
        // batches once the current one passes 4096 bytes.
        for round in 0..<3 {
            let seqs = (round * 100)..<(round * 100 + 100)
            try client.send(lines: seqs.map { "VOTE p voter-\($0)-\(String(repeating: "v", count: 40)) a" })
            #expect(try client.readLines(100) == seqs.map { "OK \($0 + 2)" })
        }
        func check() throws -> [String] {
            let folderMode = Self.mode(data)
            #expect(folderMode?.isDirectory == true)
            #expect(folderMode?.mode == 0o700, "data folder mode \(String(folderMode?.mode ?? 0, radix: 8))")
            #expect(Self.mode(folder + "/nested")?.mode == 0o700, "created parent folder")
            let names = try FileManager.default.contentsOfDirectory(atPath: data).sorted()
            for name in names {
                guard let entry = Self.mode(data + "/" + name) else { continue }
                if entry.isDirectory {
                    #expect(entry.mode == 0o700, "\(name): \(String(entry.mode, radix: 8))")
                } else {
                    #expect(entry.mode == 0o600, "\(name): \(String(entry.mode, radix: 8))")
                }
            }
            return names
        }
        let running = try check()
        #expect(running.contains("LOCK"))
        #expect(running.filter { $0.hasSuffix(".log") }.count >= 2, "\(running)")
        #expect(server.terminate() == 0)
        _ = try check()   // and whatever shutdown wrote (a snapshot)
    }

    @Test func tokensNeverAppearInTheServersOutput() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let full = try Self.writeToken(folder, "full", "SecretFull-a1b2c3\n")
        let read = try Self.writeToken(folder, "read", "SecretRead-d4e5f6\n")
        let server = try SecureServe(["--host", "0.0.0.0", "--port", "0", "--data", folder + "/data",
                                      "--token-file", full, "--read-token-file", read],
                                     environment: ["POLLTALLY_TOKEN": "SecretEnv-g7h8i9"])
        try server.waitUntilListening(host: "0.0.0.0")
        let client = try server.client()
        try client.send("AUTH SecretGuess-000\nAUTH SecretRead-d4e5f6\nVOTE p v a\nAUTH SecretFull-a1b2c3\nCREATE p a,b\nSTATS\n")
        let replies = try client.readLines(5)
        #expect(replies == ["ERR auth-failed wrong token", "OK read-only", "ERR auth-required this token is read-only", "OK", "OK 1"])
        let stats = try client.readBlock()
        #expect(!stats.joined().contains("Secret"))
        #expect(try client.request("AUTH SecretEnv-g7h8i9") == "ERR auth-failed wrong token")
        #expect(server.terminate() == 0)
        let output = server.stdout + server.stderr
        for secret in ["SecretFull", "SecretRead", "SecretEnv", "SecretGuess", "a1b2c3", "d4e5f6"] {
            #expect(!output.contains(secret), "\(secret) in the server's output: \(output)")
        }
    }

    @Test func openFileLimitIsRaisedAtStartAndSaidSo() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let hard = Int(limit.rlim_max)
        try #require(hard >= 2048, "hard open-file limit \(hard) is too low to test raising it")
        let wanted = min(10_256, hard)
        let raised = try SecureServe(["--port", "0", "--data", folder + "/a"], shellPrefix: "ulimit -Sn 1024;")
        try raised.waitUntilListening()
        #expect(raised.stdout.contains("raised the open-file limit from 1024 to \(wanted)"), "\(raised.stdout)")
        #expect(try raised.client().request("PING") == "PONG")
        #expect(raised.terminate() == 0)

        // Below --max-connections and not raisable: a warning, and the server still runs.
        let capped = try SecureServe(["--port", "0", "--data", folder + "/b"], shellPrefix: "ulimit -n 512;")
        try capped.waitUntilListening()
        #expect(capped.stderr.contains("open-file limit is 512, below --max-connections 10000"), "\(capped.stderr)")
        let client = try capped.client()
        #expect(try client.request("PING") == "PONG")
        #expect(capped.terminate() == 0)
    }

    /// A supervisor may stop the server as soon as it says it listens: SIGTERM must then stop it
    /// cleanly (exit 0), never kill it outright or be lost.
    @Test func sigtermRightAfterTheListeningLineStopsCleanly() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        var outcomes: [String] = []
        for attempt in 0..<8 where outcomes.allSatisfy({ $0 == "exit 0" }) {
            let server = try SecureServe(["--port", "0", "--data", folder + "/data-\(attempt)", "--fsync", "never"])
            try server.waitUntilListening(pollMicroseconds: 0)   // as soon as the line is there
            // A SIGTERM that lands before the server takes signals must neither be lost (still
            // running) nor kill it outright; 20 s leaves room for a clean stop's fsyncs under load.
            if let status = server.terminate(timeout: 20) {
                outcomes.append(server.process.terminationReason == .uncaughtSignal ? "killed by signal \(status)" : "exit \(status)")
            } else {
                outcomes.append("still running 20 s after SIGTERM")
            }
            server.stop()
        }
        #expect(outcomes.allSatisfy { $0 == "exit 0" }, "\(outcomes)")
    }

    @Test func limitFlagsReachTheServer() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try SecureServe(["--port", "0", "--data", folder + "/data", "--max-line", "100", "--max-options", "3",
                                      "--max-connections", "3", "--idle-timeout", "1"])
        try server.waitUntilListening()
        let client = try server.client()
        #expect(try client.request("PING" + String(repeating: " ", count: 96)) == "PONG")
        #expect(try client.request("PING" + String(repeating: " ", count: 97)).hasPrefix("ERR line-too-long "))
        #expect(try client.request("CREATE p a,b,c,d").hasPrefix("ERR bad-request "))
        #expect(try client.request("CREATE p a,b,c") == "OK 1")
        let second = try server.client()
        let third = try server.client()
        #expect(try second.request("PING") == "PONG")
        #expect(try third.request("PING") == "PONG")
        let fourth = try server.client()
        #expect(try fourth.expectLine() == "ERR too-many-connections the server holds 3 connections; try again later")
        #expect(try fourth.readUntilEOF().isEmpty)
        // --idle-timeout 1: a silent client is closed within the next sweeps.
        #expect(try client.readLine(timeout: 5) == "ERR idle-timeout no request for 1 s; closing")
        #expect(try client.readUntilEOF().isEmpty)
        #expect(server.terminate() == 0)
    }
}
