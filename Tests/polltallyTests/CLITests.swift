import Foundation
import Testing

/// The command-line surface: help, flag errors, and the text of `dump` and `replay`.
@Suite("polltally command line")
struct CLITests {
    static let subcommands = ["serve", "replay", "verify", "dump"]

    @Test func topLevelHelp() throws {
        for flag in ["--help", "-h", "help"] {
            let result = try runPolltally([flag])
            #expect(result.exit == .code(0))
            #expect(result.stdout.hasPrefix("usage: polltally <command> [flags]"), "\(result.stdout)")
            for command in Self.subcommands { #expect(result.stdout.contains("  \(command) ")) }
            #expect(result.stderr.isEmpty)
        }
    }

    @Test(arguments: subcommands)
    func subcommandHelpExitsZero(_ command: String) throws {
        for flag in ["--help", "-h"] {
            let result = try runPolltally([command, flag])
            #expect(result.exit == .code(0), "\(command) \(flag): \(result.exit) \(result.stderr)")
            #expect(result.stdout.hasPrefix("usage: polltally \(command)"), "\(result.stdout)")
            #expect(result.stderr.isEmpty)
        }
    }

    @Test(arguments: subcommands)
    func unknownFlagExitsTwoWithOneLineThenUsage(_ command: String) throws {
        let result = try runPolltally([command, "--bogus-flag", "1"])
        #expect(result.exit == .code(2))
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "polltally \(command): unknown flag '--bogus-flag'", "\(lines.first ?? "")")
        #expect(lines.count > 1 && lines[1].hasPrefix("usage: polltally \(command)"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func badUsageExitsTwo() throws {
        let cases: [([String], String)] = [
            ([], "usage: polltally"),
            (["frobnicate"], "polltally: unknown command 'frobnicate'"),
            (["serve", "--port", "70000"], "polltally serve: --port must be a whole number from 0 to 65535, not '70000'"),
            (["serve", "--port=abc"], "polltally serve: --port must be a whole number"),
            (["serve", "--fsync", "sometimes"], "polltally serve: --fsync must be always, interval:<ms> or never, not 'sometimes'"),
            (["dump", "--data"], "polltally dump: flag '--data' needs a value"),
            (["dump", "--from", "0"], "polltally dump: --from must be a whole number"),
            (["replay", "extra"], "polltally replay: unexpected argument 'extra'"),
            (["verify", "--poll", "x"], "polltally verify: unknown flag '--poll'"),
        ]
        for (arguments, message) in cases {
            let result = try runPolltally(arguments)
            #expect(result.exit == .code(2), "\(arguments): \(result.exit)")
            #expect(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("usage: polltally"), "\(arguments)")
        }
    }

    @Test func dumpAndReplayPrintTheLogAsText() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let data = folder + "/data"
        let before = wallClockMs()
        let server = try ServerProcess(dataPath: data)
        defer { server.stop() }
        let client = try server.client()
        let commands = [
            "CREATE lunch pizza,sushi Where shall we eat?",
            "CREATE quiz x,y",
            "VOTE lunch alice pizza",
            "VOTE lunch bob sushi",
            "VOTE quiz carol y",
            "VOTE lunch alice sushi",
            "UNVOTE lunch bob",
            "CLOSE quiz",
        ]
        for (index, command) in commands.enumerated() { #expect(try client.request(command) == "OK \(index + 1)") }
        #expect(try client.request("VOTE lunch alice sushi") == "OK 6")   // a repeat logs nothing
        let tallies = try serverTallies(client)
        #expect(server.terminate() == .code(0))
        let after = wallClockMs()

        let events = try dumpEvents(data)
        #expect(events.map(\.seq) == Array(1...8))
        #expect(events.map(\.command) == commands)
        #expect(events.allSatisfy { $0.ms >= before - 1000 && $0.ms <= after + 1000 }, "\(events.map(\.ms)) not within \(before)...\(after)")
        let raw = try runPolltally(["dump", "--data", data])
        #expect(raw.stdout.split(separator: "\n").allSatisfy { $0.wholeMatch(of: /EVENT [0-9]+ [0-9]+ (CREATE|VOTE|UNVOTE|CLOSE) .+/) != nil })
        #expect(raw.stdout.contains(/\nEVENT 3 [0-9]+ VOTE lunch alice pizza\n/))

        let from = try runPolltally(["dump", "--data", data, "--from", "6"])
        #expect(from.exit == .code(0))
        #expect(from.stdout.split(separator: "\n").compactMap { DumpedEvent(String($0))?.seq } == [6, 7, 8])

        #expect(try replayLines(data) == tallies)
        #expect(tallies == [
            "TALLY lunch 7 open pizza=0 sushi=1 total=1",
            "TALLY quiz 8 closed x=0 y=1 total=1",
        ])
        let one = try runPolltally(["replay", "--data", data, "--poll", "quiz"])
        #expect(one.exit == .code(0))
        #expect(one.stdout == "TALLY quiz 8 closed x=0 y=1 total=1\n")
        let until = try runPolltally(["replay", "--data", data, "--until", "4"])
        #expect(until.stdout == "TALLY lunch 4 open pizza=1 sushi=1 total=2\nTALLY quiz 2 open x=0 y=0 total=0\n")
        let missing = try runPolltally(["replay", "--data", data, "--poll", "nosuch"])
        #expect(missing.exit == .code(1))
        #expect(missing.stderr.contains("no poll named nosuch"))
    }

    @Test func serveStartupLinesAndAnEmptyFolder() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let data = folder + "/fresh/data"
        let server = try ServerProcess(dataPath: data, extra: ["--shards", "3", "--fsync", "interval:5"])
        defer { server.stop() }
        let stdout = server.child.stdout
        #expect(stdout.contains("polltally listening on 127.0.0.1:\(server.port)\n"))
        #expect(stdout.contains("data folder \(data) (fsync interval:5"), "\(stdout)")
        #expect(stdout.contains("recovered 0 events (last seq 0, 0 bytes)"), "\(stdout)")
        let client = try server.client()
        #expect(try client.request("PING") == "PONG")
        #expect(try client.requestBlock("STATS").contains("STAT shards 3"))
        #expect(server.terminate() == .code(0))
        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(0))
        #expect(verify.stdout.hasPrefix("ok: 0 events"), "\(verify.stdout)")
        #expect(try replayLines(data).isEmpty)
        #expect(try dumpEvents(data).isEmpty)
    }
}
