import Foundation
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `--idle-timeout` against the built binary.
@Suite("polltally serve: idle timeout")
struct ServeTimeoutTests {
    @Test func idleConnectionsAreClosedAndWatchersAreNot() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data", extra: ["--idle-timeout", "1"])
        defer { server.stop() }
        let setup = try server.client()
        #expect(try setup.request("CREATE lunch pizza,sushi") == "OK 1")
        let watcher = try server.client()
        try watcher.send("WATCH lunch\n")
        #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE lunch 1 open pizza=0 sushi=0 total=0"])
        let idle = try server.client()
        let started = TestClient.now()
        #expect(try idle.readUntilEOF(timeout: 5) == ["ERR idle-timeout no request for 1 s; closing"])
        #expect(TestClient.now() - started < 5)
        // The setup client was as silent as the idle one.
        #expect(try setup.readUntilEOF(timeout: 3) == ["ERR idle-timeout no request for 1 s; closing"])
        // The watcher hears nothing but updates, however long it stays silent.
        #expect(try watcher.linesArriving(within: 2).isEmpty)
        let voter = try server.client()
        #expect(try voter.request("VOTE lunch ana sushi") == "OK 2")
        #expect(try watcher.expectLine() == "UPDATE lunch 2 open pizza=0 sushi=1 total=1")
        #expect(try watcher.request("PING") == "PONG")
    }
}
