import Testing
@testable import PollTallyClient
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally bench --command ping`: the request bytes of each dialect, how a reply line is judged, and
/// a load connection against a scripted peer.
@Suite("bench PING floor")
struct BenchPingTests {
    static let vote = Vote(poll: 3, voter: 42, option: 1)
    static let sha = String(repeating: "a", count: 40)

    static func encoded(_ dialect: Dialect, _ votes: [Vote] = [vote]) -> String {
        let encoder = RequestEncoder(dialect: dialect, polls: 5, options: 4)
        var buffer: [UInt8] = []
        for vote in votes { encoder.encode(vote, into: &buffer) }
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("a PollTally PING is the bytes PING\\n, whatever the vote")
    func polltallyPingBytes() {
        #expect(Array(Self.encoded(.polltallyPing).utf8) == [0x50, 0x49, 0x4E, 0x47, 0x0A])
        let votes = [Self.vote, Vote(poll: 0, voter: 0, option: 0), Vote(poll: 4, voter: 199_999, option: 3)]
        #expect(Self.encoded(.polltallyPing, votes) == "PING\nPING\nPING\n")
    }

    @Test("a Redis PING is the inline command PING\\r\\n, whatever the vote")
    func redisPingBytes() {
        #expect(Array(Self.encoded(.redisPing).utf8) == [0x50, 0x49, 0x4E, 0x47, 0x0D, 0x0A])
        #expect(Self.encoded(.redisPing, [Self.vote, Vote(poll: 4, voter: 7, option: 2)]) == "PING\r\nPING\r\n")
    }

    @Test("the vote requests keep their bytes")
    func voteBytes() {
        #expect(Self.encoded(.polltally) == "VOTE p3 v42 o1\n")
        #expect(Self.encoded(.redisVote(sha: Self.sha)) == "EVALSHA \(Self.sha) 0 p3 v42 o1\r\n")
        #expect(Self.encoded(.redisIncrement) == "HINCRBY counts:p3 o1 1\r\n")
        #expect(Self.encoded(.polltally, [Vote(poll: 0, voter: 0, option: 0), Vote(poll: 4, voter: 1_000_000, option: 3)])
            == "VOTE p0 v0 o0\nVOTE p4 v1000000 o3\n")
    }

    @Test("a PING succeeds only with PONG (PollTally) or +PONG (Redis), and is not verified")
    func dialects() {
        #expect(Dialect.polltallyPing.successByte == UInt8(ascii: "P"))
        #expect(Dialect.polltallyPing.successLine == Array("PONG".utf8))
        #expect(Dialect.redisPing.successByte == UInt8(ascii: "+"))
        #expect(Dialect.redisPing.successLine == Array("+PONG".utf8))
        #expect(!Dialect.polltallyPing.verifiable && !Dialect.redisPing.verifiable && !Dialect.redisIncrement.verifiable)
        #expect(Dialect.polltally.verifiable && Dialect.redisVote(sha: Self.sha).verifiable)
        #expect(Dialect.polltally.successLine == nil && Dialect.redisIncrement.successLine == nil)
    }

    @Test("labels: polltally-ping and redis-ping; a PING load creates no polls")
    func labels() {
        var config = BenchConfig()
        #expect(config.label == "polltally" && config.createsPolls)
        config.command = .ping
        #expect(config.label == "polltally-ping" && !config.createsPolls)
        config.target = .redis
        #expect(config.label == "redis-ping")
        config.command = .hincrby
        #expect(config.label == "redis-hincrby" && config.createsPolls)
        config.command = .vote
        #expect(config.label == "redis")
        config.setup = false
        #expect(!config.createsPolls)
    }

    @Test("a reply line is compared whole, wherever a read cut it, less one trailing \\r")
    func lineMatchAcrossReads() {
        let expected = Array("+PONG".utf8)
        for (text, matches) in [("+PONG\r", true), ("+PONG", true), ("+PONG\r\r", false), ("+PONGS\r", false), ("+PON\r", false),
                                ("+OK\r", false), ("\r", false), ("", false), ("-ERR x\r", false), ("+pong\r", false)] {
            let line = Array(text.utf8)
            for cut in 0...line.count {
                let partial = Array(line[..<cut])
                let rest = [0x41, 0x42] + Array(line[cut...]) + [0x0A]  // junk before the line start
                let result = rest.withUnsafeBytes { LoadConnection.line(partial, $0, 2, rest.count - 1, is: expected) }
                #expect(result == matches, "\(text.debugDescription) cut at \(cut)")
            }
        }
    }

    @Test("a PING load against a scripted Redis-like peer: +PONG counts, any other line is an error", arguments: [1, 4])
    func redisPingLoad(depth: Int) throws {
        let replies = ["+PONG\r\n", "+OK\r\n", "+PONG\r\n", "-ERR unknown command\r\n", "+PONGS\r\n", ":1\r\n", "+PONG\r\n", "+PONG\r\n"]
        let (result, received) = try Self.load(.redisPing, replies: replies, depth: depth)
        #expect(result.failure == nil)
        #expect(result.replies == replies.count)
        #expect(result.errors == 4)
        #expect(result.errorSamples == ["+OK", "-ERR unknown command", "+PONGS", ":1"])
        #expect(String(decoding: received, as: UTF8.self) == String(repeating: "PING\r\n", count: replies.count))
    }

    @Test("a PING load against a scripted PollTally-like peer: PONG counts, +PONG or ERR do not", arguments: [1, 3])
    func polltallyPingLoad(depth: Int) throws {
        let replies = ["PONG\n", "PONG\n", "+PONG\n", "ERR unknown-command x\n", "PONG\n", "\n", "PONGPONG\n", "PONG\n"]
        let (result, received) = try Self.load(.polltallyPing, replies: replies, depth: depth)
        #expect(result.failure == nil)
        #expect(result.replies == replies.count)
        #expect(result.errors == 4)
        #expect(result.errorSamples == ["+PONG", "ERR unknown-command x", "", "PONGPONG"])
        #expect(String(decoding: received, as: UTF8.self) == String(repeating: "PING\n", count: replies.count))
    }

    /// Runs a `LoadClient` (a thread of its own) sending one request per reply over a socket pair whose other end answers the
    /// n-th request line with `replies[n]`, each written in two halves a moment apart (so reads cut
    /// lines); returns the client's result and the bytes the peer received.
    static func load(_ dialect: Dialect, replies: [String], depth: Int) throws -> (ClientResult, [UInt8]) {
        var fds: [CInt] = [-1, -1]
        try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let (client, peer) = (fds[0], fds[1])
        defer { close(client) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let received = ResultSlots<[UInt8]>(count: 1)
        let thread = try BenchThread.start {
            received.set(0, answer(peer, replies))
            close(peer)
        }
        let load = LoadClient(connection: LoadConnection(
            socket: TCPSocket(fd: client, timeoutSeconds: 10),
            votes: Array(repeating: Self.vote, count: replies.count), depth: depth,
            encoder: RequestEncoder(dialect: dialect, polls: 5, options: 4),
            successByte: dialect.successByte, successLine: dialect.successLine))
        let result = load.run()
        thread.join()
        return (result, received.values[0] ?? [])
    }

    static func answer(_ fd: CInt, _ replies: [String]) -> [UInt8] {
        var received: [UInt8] = []
        var answered = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answered < replies.count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            received += buffer[0..<n]
            let lines = received.count(where: { $0 == 0x0A })
            while answered < min(lines, replies.count) {
                let reply = Array(replies[answered].utf8)
                let half = reply.count / 2
                for part in [reply[..<half], reply[half...]] where !part.isEmpty {
                    _ = part.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
                    usleep(1_000)
                }
                answered += 1
            }
        }
        return received
    }
}
