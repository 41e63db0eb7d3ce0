/// A tiny RESP2 client for Redis setup and verification: commands go out as multibulk arrays,
/// pipelined; replies are read back in order.
struct RESPClient {
    private let socket: TCPSocket
    private let reader: BufferedReader

    /// Largest bulk string and array accepted, and deepest nesting: bounds on what the peer can make us hold.
    private static let maxBulk = 512 << 20
    private static let maxItems = 1 << 24
    private static let maxNesting = 8

    init(host: String, port: Int, timeoutSeconds: Int) throws(ClientError) {
        socket = try TCPSocket.connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
        reader = BufferedReader(socket: socket)
    }

    /// Sends every command in one write, then reads one reply per command.
    func pipeline(_ commands: [[String]]) throws(ClientError) -> [RESPValue] {
        var bytes: [UInt8] = []
        for command in commands {
            bytes.append(contentsOf: "*\(command.count)\r\n".utf8)
            for argument in command {
                bytes.append(contentsOf: "$\(argument.utf8.count)\r\n".utf8)
                bytes.append(contentsOf: argument.utf8)
                bytes.append(contentsOf: [0x0D, 0x0A])
            }
        }
        try socket.writeAll(bytes)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readValue(nesting: 0)) }
        return replies
    }

    /// Sends one command and returns its reply.
    func command(_ arguments: String...) throws(ClientError) -> RESPValue {
        let replies = try pipeline([arguments])
        guard let reply = replies.first else { throw ClientError("no reply from Redis") }
        return reply
    }

    func close() {
        socket.close()
    }

    private func readValue(nesting: Int) throws(ClientError) -> RESPValue {
        let line = try reader.line()
        guard let kind = line.first else { throw ClientError("Redis sent an empty line") }
        let rest = String(decoding: line.dropFirst(), as: UTF8.self)
        switch kind {
        case UInt8(ascii: "+"):
            return .simple(rest)
        case UInt8(ascii: "-"):
            return .error(rest)
        case UInt8(ascii: ":"):
            guard let n = Int(rest) else { throw ClientError("Redis sent a bad integer ':\(rest.prefix(40))'") }
            return .integer(n)
        case UInt8(ascii: "$"):
            guard let length = Int(rest), length >= -1, length <= Self.maxBulk else {
                throw ClientError("Redis sent a bad bulk length '$\(rest.prefix(40))'")
            }
            if length == -1 { return .bulk(nil) }
            let bytes = try reader.bytes(length)
            guard try reader.line().isEmpty else { throw ClientError("Redis bulk string not followed by CRLF") }
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(rest), count >= -1, count <= Self.maxItems, nesting < Self.maxNesting else {
                throw ClientError("Redis sent a bad array header '*\(rest.prefix(40))'")
            }
            if count == -1 { return .array(nil) }
            var items: [RESPValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try readValue(nesting: nesting + 1)) }
            return .array(items)
        default:
            throw ClientError("Redis sent an unexpected line '\(String(decoding: line.prefix(60), as: UTF8.self))'")
        }
    }
}
