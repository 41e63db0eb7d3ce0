import Foundation
import PollTallyTestSupport
import Testing

/// `polltally bench` against a real `polltally serve` child: the PING floor, the vote load it sits
/// next to, and the `--command` flag's errors.
@Suite("polltally bench")
struct BenchCLITests {
    /// The `key=value` fields of the one RESULT line in `stdout`.
    static func resultFields(_ stdout: String) throws -> [String: String] {
        let lines = stdout.split(separator: "\n").filter { $0.hasPrefix("RESULT ") }
        try #require(lines.count == 1, "\(stdout)")
        var fields: [String: String] = [:]
        for field in lines[0].dropFirst("RESULT ".count).split(separator: " ") {
            let parts = field.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    @Test("--command ping: PINGs only, labelled polltally-ping, no errors, not verified, no poll created")
    func pingFloor() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "interval:1000"])
        defer { server.stop() }
        let result = try runPolltally([
            "bench", "--port", "\(server.port)", "--pid", "\(server.pid)", "--command", "ping",
            "--connections", "4", "--depth", "8", "--votes", "6000", "--setup", "yes",
        ], timeout: 60)
        #expect(result.exit == .code(0), "\(result.stdout)\n\(result.stderr)")
        let fields = try Self.resultFields(result.stdout)
        #expect(fields["target"] == "polltally")
        #expect(fields["command"] == "ping")
        #expect(fields["label"] == "polltally-ping")
        #expect(fields["votes"] == "6000")
        #expect(fields["errors"] == "0")
        #expect(fields["verified"] == "n/a")
        #expect(Int(fields["votes_per_s"] ?? "") ?? 0 > 0)
        #expect(Int(fields["peak_rss_bytes"] ?? "") ?? 0 > 0)
        #expect(result.stdout.contains("target polltally-ping at 127.0.0.1:\(server.port): 4 connections x depth 8"))
        #expect(result.stdout.contains("verified: n/a (polltally-ping sends no votes)"))
        #expect(!result.stderr.contains("setup:"), "\(result.stderr)")
        // No CREATE, no vote: the server holds no poll and logged nothing.
        let client = try server.client()
        #expect(try client.requestBlock("POLLS") == ["END"])
        #expect(server.terminate() == .code(0))
        #expect(try dumpEvents(folder + "/data").isEmpty)
    }

    @Test("the vote load verifies its tallies: --command vote, and its connections on one thread per core (the default), one, three (so two), or a thread each")
    func voteLoad() throws {
        // The client threads the RESULT line must name: never more than the 2 connections.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let cases: [([String], Int)] = [([], min(2, cores)), (["--command", "vote"], min(2, cores)), (["--client-threads", "0"], 0),
                                        (["--client-threads", "1"], 1), (["--client-threads", "3"], 2)]
        for (arguments, threads) in cases {
            let folder = makeTemporaryFolder()
            defer { removeTemporaryFolder(folder) }
            let server = try ServerProcess(dataPath: folder + "/data", extra: ["--fsync", "never"])
            defer { server.stop() }
            let result = try runPolltally([
                "bench", "--port", "\(server.port)", "--pid", "\(server.pid)", "--connections", "2", "--depth", "4",
                "--polls", "3", "--voters", "50", "--votes", "2000",
            ] + arguments, timeout: 60)
            #expect(result.exit == .code(0), "\(arguments): \(result.stdout)\n\(result.stderr)")
            let fields = try Self.resultFields(result.stdout)
            #expect(fields["label"] == "polltally" && fields["command"] == "vote", "\(fields)")
            #expect(fields["client_threads"] == "\(threads)", "\(fields)")
            #expect(fields["votes"] == "2000" && fields["errors"] == "0" && fields["verified"] == "yes", "\(fields)")
            #expect(result.stderr.contains("bench: setup: 3 polls with 4 options on polltally"), "\(result.stderr)")
        }
    }

    @Test("a Redis PING load counts PollTally's PONG (not +PONG) as an error")
    func pingReplyOtherThanPONGIsAnError() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data")
        defer { server.stop() }
        // PollTally frames `PING\r\n` as PING and answers `PONG\n`: right for PollTally, wrong for Redis.
        let result = try runPolltally([
            "bench", "--port", "\(server.port)", "--pid", "\(server.pid)", "--target", "redis", "--command", "ping",
            "--connections", "2", "--depth", "2", "--votes", "100",
        ], timeout: 60)
        let fields = try Self.resultFields(result.stdout)
        #expect(fields["label"] == "redis-ping" && fields["command"] == "ping" && fields["target"] == "redis", "\(fields)")
        #expect(fields["votes"] == "100" && fields["errors"] == "100" && fields["verified"] == "n/a", "\(fields)")
        #expect(result.stdout.contains("  error reply: PONG"), "\(result.stdout)")
        #expect(result.exit == .code(0))  // as for hincrby: nothing to verify, the errors column tells
    }

    @Test("--command errors: hincrby is refused for polltally, an unknown command names the three")
    func commandErrors() throws {
        let cases: [([String], String)] = [
            (["bench", "--command", "hincrby"], "polltally bench: --command hincrby is for --target redis"),
            (["bench", "--target", "polltally", "--command", "hincrby"], "polltally bench: --command hincrby is for --target redis"),
            (["bench", "--target", "redis", "--command", "pong"], "polltally bench: --command must be vote, hincrby or ping, not 'pong'"),
            (["bench", "--command", "PING"], "polltally bench: --command must be vote, hincrby or ping, not 'PING'"),
        ]
        for (arguments, message) in cases {
            let result = try runPolltally(arguments)
            #expect(result.exit == .code(2), "\(arguments): \(result.exit)")
            #expect(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("usage: polltally bench"), "\(arguments)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test("bench --help lists the three commands")
    func help() throws {
        let result = try runPolltally(["bench", "--help"])
        #expect(result.exit == .code(0))
        #expect(result.stdout.contains("[--command vote|hincrby|ping]"))
        #expect(result.stdout.contains("ping: PING (polltally) or inline PING (redis)"))
    }

    @Test("--disk-sync N: one DISKSYNC line appending and one overwriting, each with N samples; the scratch file is gone")
    func diskSyncProbes() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let result = try runPolltally(["bench", "--disk-sync", "50", "--dir", folder], timeout: 60)
        #expect(result.exit == .code(0), "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("DISKSYNC ") }
        #expect(lines.count == 2, "\(result.stdout)")
        for (line, mode) in zip(lines, ["append", "overwrite"]) {
            #expect(line.contains(" mode=\(mode) iterations=50 bytes=64 "), "\(line)")
            let p50 = line.split(separator: " ").first { $0.hasPrefix("p50_us=") }.flatMap { Double($0.dropFirst("p50_us=".count)) }
            #expect((p50 ?? 0) > 0, "\(line)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
