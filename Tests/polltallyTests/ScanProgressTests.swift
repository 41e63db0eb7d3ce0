import Foundation
import Testing

/// `ScanProgress` as a person sees it: `verify` and `replay` of the built binary draw a progress
/// line only when stderr is a terminal, and clear it before their result.
@Suite("Progress of verify and replay on a terminal")
struct ScanProgressTests {
    static let script = "/usr/bin/script"

    /// Everything `polltally <arguments>` writes when its output is a terminal: run under `script`
    /// (util-linux, in every Debian), which gives it a pseudo-terminal and copies what it shows.
    static func onTerminal(_ arguments: [String]) throws -> String {
        let folder = makeTemporaryFolder("polltally-tty")
        defer { removeTemporaryFolder(folder) }
        let output = folder + "/out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        let command = ([PolltallyBinary.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        process.arguments = ["-qec", command, "/dev/null"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return readTextFile(output)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: script), "needs script(1) from util-linux"))
    func verifyAndReplayDrawProgressOnATerminalThenClearIt() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let (data, tally) = try LogDamageTests.makeLog(in: folder, votes: 50)
        let clear = "\r\u{1B}[K"
        for (command, result) in [("verify", "ok: 51 events (seq 1..51)"), ("replay", tally)] {
            let shown = try Self.onTerminal([command, "--data", data])
            #expect(shown.contains(clear + "\(command): 51 events, "), "\(command): \(shown.debugDescription)")
            #expect(shown.contains(" MB/s, ETA "), "\(command): \(shown.debugDescription)")
            #expect(shown.contains(clear + result), "the line is cleared before the result: \(shown.debugDescription)")
        }
        // Not a terminal: not a byte of it.
        let piped = try runPolltally(["replay", "--data", data])
        #expect(piped.stderr.isEmpty, "\(piped.stderr.debugDescription)")
        #expect(piped.stdout == tally + "\n")
    }
}
