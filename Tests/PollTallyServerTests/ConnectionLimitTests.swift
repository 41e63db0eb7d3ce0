import PollTallyTestSupport
import Foundation
import PollTallyCore
@testable import PollTallyServer
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Connection limits over TCP: `maxConnections`, and the idle timeout.
@Suite("Connection limits over TCP")
struct ConnectionLimitTests {
    /// Connects and sends PING: the reply is `PONG` when accepted, or the refusal line.
    static func tryConnect(_ server: TestServer) throws -> (client: TestClient, reply: String?) {
        let client = try server.client()
        try? client.send("PING\n")
        return (client, try client.readLine(timeout: 5))
    }

    @Test func sixthClientIsRefusedAndANewOneIsAcceptedAfterOneCloses() throws {
        try withServer(configure: { $0.maxConnections = 5 }) { server in
            var clients: [TestClient] = []
            for _ in 0..<5 {
                let client = try server.client()
                #expect(try client.request("PING") == "PONG")
                clients.append(client)
            }
            // The sixth: one refusal line, then end of file, without sending anything.
            let sixth = try server.client()
            let refusal = try sixth.expectLine()
            #expect(refusal.hasPrefix("ERR too-many-connections "), "\(refusal)")
            #expect(refusal == "ERR too-many-connections the server holds 5 connections; try again later")
            #expect(try sixth.readUntilEOF().isEmpty)
            // Refusing does not disturb the five.
            for client in clients { #expect(try client.request("PING") == "PONG") }
            let seventh = try server.client()
            #expect(try seventh.expectLine().hasPrefix("ERR too-many-connections "))
            #expect(try seventh.readUntilEOF().isEmpty)

            // One leaves; a new client is accepted (once the server has seen the close).
            #expect(try clients.removeFirst().request("QUIT") == "BYE")
            var accepted: TestClient?
            let ok = try waitUntil(timeout: 5) {
                let attempt = try Self.tryConnect(server)
                if attempt.reply == "PONG" { accepted = attempt.client; return true }
                #expect(attempt.reply?.hasPrefix("ERR too-many-connections ") == true, "\(attempt.reply ?? "EOF")")
                return false
            }
            #expect(ok, "no client was accepted after one of five closed")
            guard let accepted else { return }
            #expect(try accepted.request("CREATE p a,b") == "OK 1")
            // Full again.
            let again = try server.client()
            #expect(try again.expectLine().hasPrefix("ERR too-many-connections "))
            let stats = try accepted.requestBlock("STATS")
            #expect(stats.contains("STAT connections 5"), "\(stats)")
            #expect(stats.contains("STAT max_connections 5"))
            let refused = stats.first { $0.hasPrefix("STAT connections_refused ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            #expect(refused >= 3)
        }
    }

    @Test func clientsThatVanishWithoutQuitFreeTheirPlaces() throws {
        try withServer(configure: { $0.maxConnections = 3 }) { server in
            for round in 0..<4 {
                var clients: [TestClient] = []
                let ok = try waitUntil(timeout: 5) {
                    while clients.count < 3 {
                        let attempt = try Self.tryConnect(server)
                        guard attempt.reply == "PONG" else { return false }
                        clients.append(attempt.client)
                    }
                    return true
                }
                #expect(ok, "round \(round): only \(clients.count) of 3 accepted")
                let extra = try server.client()
                #expect(try extra.expectLine().hasPrefix("ERR too-many-connections "), "round \(round)")
                for client in clients { client.close() }   // no QUIT: just gone
            }
        }
    }

    @Test func idleConnectionIsClosedWithAnError() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let idle = try server.client()
            let silent = try server.client()   // never sends anything
            #expect(try idle.request("PING") == "PONG")
            let started = TestClient.now()
            let line = try idle.expectLine(timeout: 5)
            #expect(line == "ERR idle-timeout no request for 1 s; closing")
            #expect(TestClient.now() - started >= 0.9)
            #expect(try idle.readUntilEOF().isEmpty)
            #expect(try silent.readLine(timeout: 5) == "ERR idle-timeout no request for 1 s; closing")
            #expect(try silent.readUntilEOF().isEmpty)
        }
    }

    @Test func aHalfSentLineDoesNotKeepAConnectionAlive() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let client = try server.client()
            try client.send("VOTE p v")   // no newline, then silence
            #expect(try client.readLine(timeout: 5) == "ERR idle-timeout no request for 1 s; closing")
            #expect(try client.readUntilEOF().isEmpty)
        }
    }

    /// A client that reads nothing while replies wait is closed after the stall timeout; the
    /// server goes on serving the others.
    @Test func stalledReaderIsClosedAfterTheStallTimeout() throws {
        try withServer(configure: { $0.stallTimeout = .seconds(1); $0.maxOutput = 64 * 1024; $0.fsync = .never }) { server in
            let control = try server.client()
            let options = (0..<64).map { "o\($0)" }.joined(separator: ",")
            #expect(try control.request("CREATE big \(options)") == "OK 1")
            let stalled = try server.client()
            var small: CInt = 16 * 1024
            setsockopt(stalled.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<CInt>.size))
            let fd = stalled.fd
            let payload = Array(String(repeating: "TALLY big\n", count: 30_000).utf8)
            let sent = DispatchSemaphore(value: 0)
            Thread {
                var offset = 0
                while offset < payload.count {
                    let n = payload.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { if errno == EINTR { continue }; break }
                    offset += n
                }
                sent.signal()
            }.start()
            func stat(_ name: String) throws -> Int {
                let line = try control.requestBlock("STATS").first { $0.hasPrefix("STAT \(name) ") } ?? ""
                return Int(line.split(separator: " ").last ?? "") ?? -1
            }
            let closed = try waitUntil(timeout: 8) { try stat("slow_consumers_closed") == 1 }
            #expect(closed, "the stalled reader was not closed")
            #expect(try waitUntil(timeout: 5) { try stat("connections") == 1 })
            #expect(sent.wait(timeout: .now() + 10) == .success, "the sender is still blocked")
            #expect(try control.request("PING") == "PONG")
            #expect(try control.request("VOTE big v o1") == "OK 2")
        }
    }

    @Test func watchersTailersAndBusyClientsAreNotIdle() throws {
        try withServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let admin = try server.client()
            #expect(try admin.request("CREATE p a,b") == "OK 1")
            let watcher = try server.client()
            try watcher.send("WATCH p\n")
            #expect(try watcher.readLines(2) == ["OK watching 1", "UPDATE p 1 open a=0 b=0 total=0"])
            let tailer = try server.client()
            #expect(try tailer.request("TAIL") == "OK tailing from 2")
            #expect(try tailer.expectLine() == "LIVE 1")
            let idle = try server.client()
            #expect(try idle.request("PING") == "PONG")
            // The busy client sends every 300 ms for 3 s; the idle one is closed meanwhile.
            var idleClosedAt: Double?
            let started = TestClient.now()
            while TestClient.now() - started < 3 {
                #expect(try admin.request("PING") == "PONG")
                if idleClosedAt == nil, let line = try idle.linesArriving(within: 0.3).first {
                    #expect(line.hasPrefix("ERR idle-timeout "))
                    idleClosedAt = TestClient.now()
                } else if idleClosedAt != nil {
                    usleep(300_000)
                }
            }
            #expect(idleClosedAt != nil, "the idle client was not closed")
            // The watcher and the tailer sent nothing for 3 s and are still served.
            #expect(try watcher.linesArriving(within: 0.01).isEmpty)
            #expect(try admin.request("VOTE p v a") == "OK 2")
            #expect(try watcher.expectLine() == "UPDATE p 2 open a=1 b=0 total=1")
            let event = try tailer.expectLine()
            #expect(event.hasPrefix("EVENT 2 ") && event.hasSuffix(" VOTE p v a"), "\(event)")
            #expect(try watcher.request("PING") == "PONG")
            #expect(try tailer.request("PING") == "PONG")
        }
    }
}
