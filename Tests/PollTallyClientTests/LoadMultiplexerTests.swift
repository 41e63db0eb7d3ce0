import Testing
@testable import PollTallyClient
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `LoadMultiplexer`: several load connections on one thread see what each sees on a thread of its
/// own, and one connection's end or failure is its own.
@Suite("bench load connections on one thread")
struct LoadMultiplexerTests {
    /// Scripted peers, one per connection, each answering its n-th request line with `replies[n]`
    /// in two halves a moment apart (`BenchPingTests.answer`); the connections all run on one
    /// `LoadMultiplexer`. Returns each connection's result and what each peer received.
    static func load(_ dialect: Dialect, replies: [[String]], depth: Int) throws -> ([ClientResult], [[UInt8]]) {
        var clients: [CInt] = []
        var peers: [CInt] = []
        defer { clients.forEach { close($0) } }
        for _ in replies {
            var fds: [CInt] = [-1, -1]
            try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds) == 0)
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            for fd in fds { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) }
            clients.append(fds[0])
            peers.append(fds[1])
        }
        let received = ResultSlots<[UInt8]>(count: replies.count)
        var threads: [BenchThread] = []
        for (index, (peer, script)) in zip(peers, replies).enumerated() {
            threads.append(try BenchThread.start {
                received.set(index, BenchPingTests.answer(peer, script))
                close(peer)
            })
        }
        let connections = zip(clients, replies).map { client, script in
            LoadConnection(
                socket: TCPSocket(fd: client, timeoutSeconds: 10),
                votes: Array(repeating: BenchPingTests.vote, count: script.count), depth: depth,
                encoder: RequestEncoder(dialect: dialect, polls: 5, options: 4),
                successByte: dialect.successByte, successLine: dialect.successLine)
        }
        let results = LoadMultiplexer(connections: connections, timeoutSeconds: 10).run()
        threads.forEach { $0.join() }
        return (results, received.values.map { $0 ?? [] })
    }

    @Test("three connections on one thread: each counts and samples its own replies, as on a thread of its own", arguments: [1, 3])
    func sameResultsAsAThreadEach(depth: Int) throws {
        let scripts = [
            ["PONG\n", "ERR busy x\n", "PONG\n", "PONG\n"],
            ["PONG\n", "PONG\n"],
            ["+PONG\n", "PONG\n", "\n", "PONG\n", "PONG\n", "PONGPONG\n"],
        ]
        let (results, received) = try Self.load(.polltallyPing, replies: scripts, depth: depth)
        #expect(results.count == 3)
        for (index, script) in scripts.enumerated() {
            let (alone, _) = try BenchPingTests.load(.polltallyPing, replies: script, depth: depth)
            #expect(results[index].failure == nil, "\(results[index].failure ?? "")")
            #expect(results[index].replies == script.count && results[index].replies == alone.replies)
            #expect(results[index].errors == alone.errors)
            #expect(results[index].errorSamples == alone.errorSamples)
            #expect(results[index].latency.count == UInt64(script.count))
            #expect(String(decoding: received[index], as: UTF8.self) == String(repeating: "PING\n", count: script.count))
        }
        #expect(results.map(\.errors) == [1, 0, 3])
    }

    @Test("a peer that closes early fails its own connection only; the others finish")
    func oneClosedPeer() throws {
        var fds: [CInt] = [-1, -1]
        try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds) == 0)
        close(fds[1])  // this peer is gone before the first request
        defer { close(fds[0]) }
        var pair: [CInt] = [-1, -1]
        try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        for fd in pair { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) }
        let script = ["PONG\n", "PONG\n", "PONG\n"]
        let peerEnd = pair[1]
        let peer = try BenchThread.start {
            _ = BenchPingTests.answer(peerEnd, script)
            close(peerEnd)
        }
        let make = { (fd: CInt, count: Int) in
            LoadConnection(
                socket: TCPSocket(fd: fd, timeoutSeconds: 10), votes: Array(repeating: BenchPingTests.vote, count: count), depth: 2,
                encoder: RequestEncoder(dialect: .polltallyPing, polls: 5, options: 4),
                successByte: Dialect.polltallyPing.successByte, successLine: Dialect.polltallyPing.successLine)
        }
        let results = LoadMultiplexer(connections: [make(fds[0], 5), make(pair[0], script.count)], timeoutSeconds: 10).run()
        peer.join()
        #expect(results[0].failure != nil)
        #expect(results[1].failure == nil && results[1].replies == 3 && results[1].errors == 0)
    }

    @Test("client threads: one per core by default, never more than the connections; 0 is a thread per connection")
    func clientThreadCount() {
        var config = BenchConfig()
        config.connections = 1
        #expect(config.clientThreadCount == 1)
        config.connections = 1024
        #expect(config.clientThreadCount == Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        config.clientThreads = 0
        #expect(config.clientThreadCount == 0)
        config.clientThreads = 3
        config.connections = 2
        #expect(config.clientThreadCount == 2)
        config.connections = 16
        #expect(config.clientThreadCount == 3)
    }
}
