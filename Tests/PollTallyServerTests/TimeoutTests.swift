@testable import PollTallyServer
import PollTallyTestSupport
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `ServerConfig.idleTimeout`: a connection that neither watches nor tails and sends nothing for
/// that long gets `ERR idle-timeout …` and is closed; watchers and tails are never idle.
@Suite("Idle timeout")
struct TimeoutTests {
    static let idleLine = "ERR idle-timeout no request for 1 s; closing"

    @Test func documentedDefaults() {
        let config = ServerConfig()
        #expect(config.stallTimeout == .seconds(60))
        #expect(config.idleTimeout == .seconds(300))
        #expect(config.watchInterval == .milliseconds(50))
        #expect(config.maxOutput == 1 << 20)
    }

    @Test func aSilentConnectionIsClosedWithIdleTimeout() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let started = TestClient.now()
            let idle = try server.client()
            #expect(try idle.readUntilEOF(timeout: 5) == [Self.idleLine])
            // The sweeper looks once a second: not before the timeout, and within a few seconds.
            #expect(TestClient.now() - started >= 0.9)
            let other = try server.client()
            #expect(try other.request("PING") == "PONG")
        }
    }

    @Test func theTimeoutCountsFromTheLastRequest() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            // Busy for 2.5 s: a request every 300 ms keeps it open.
            for _ in 0..<8 {
                #expect(try client.request("PING") == "PONG")
                usleep(300_000)
            }
            #expect(try client.request("TALLY p") == "TALLY p 1 open a=0 b=0 total=0")
            #expect(try client.readUntilEOF(timeout: 5) == [Self.idleLine])
        }
    }

    @Test func watchersAndTailsAreNeverIdle() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let voter = try server.client()
            #expect(try voter.request("CREATE p a,b") == "OK 1")
            let watcher = try server.client()
            try watcher.send("WATCH p\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            let everything = try server.client()
            try everything.send("WATCH *\n")
            #expect(try everything.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            let tail = try server.client()
            try tail.send("TAIL\n")
            #expect(try tail.readLines(2) == ["OK tailing from 2", "LIVE 1"])
            let halfClosed = try server.client()
            try halfClosed.send("WATCH p\n")
            try halfClosed.shutdownWrite()
            #expect(try halfClosed.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            let idle = try server.client()

            #expect(try idle.readUntilEOF(timeout: 5) == [Self.idleLine])
            // Three sweeps later, none of the others has heard anything.
            usleep(2_000_000)
            for client in [watcher, everything, tail, halfClosed] {
                #expect(try client.linesArriving(within: 0.05).isEmpty)
            }
            // (The first client was silent all this time, so it is gone too: vote with a new one.)
            #expect(try voter.readUntilEOF(timeout: 1) == [Self.idleLine])
            let voter2 = try server.client()
            #expect(try voter2.request("VOTE p v a") == "OK 2")
            #expect(try watcher.expectLine() == "UPDATE p 2 open a=1 b=0 total=1")
            #expect(try everything.expectLine() == "UPDATE p 2 open a=1 b=0 total=1")
            #expect(try halfClosed.expectLine() == "UPDATE p 2 open a=1 b=0 total=1")
            #expect(try tail.expectLine().hasPrefix("EVENT 2 "))
            #expect(try watcher.request("PING") == "PONG")
            #expect(try voter2.requestBlock("STATS").contains("STAT watchers 3"))
        }
    }

    @Test("a connection that stops watching becomes idle", arguments: ["UNWATCH", "UNWATCH p"])
    func unwatchingMakesItIdle(_ unwatch: String) throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let client = try server.client()
            #expect(try client.request("CREATE p a,b") == "OK 1")
            try client.send("WATCH p\n")
            #expect(try client.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            #expect(try client.linesArriving(within: 2.2).isEmpty)
            #expect(try client.request(unwatch) == "OK")
            #expect(try client.readUntilEOF(timeout: 5) == [Self.idleLine])
        }
    }
}
