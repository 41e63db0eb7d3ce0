/// A plain request/reply connection to PollTally for setup, verification and STATS: send lines
/// (pipelined in one write), read reply lines.
struct LineClient {
    private let socket: TCPSocket
    private let reader: BufferedReader

    init(host: String, port: Int, timeoutSeconds: Int) throws(ClientError) {
        socket = try TCPSocket.connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
        reader = BufferedReader(socket: socket)
    }

    /// Sends `lines` in one write.
    func send(_ lines: [String]) throws(ClientError) {
        var bytes: [UInt8] = []
        for line in lines {
            bytes.append(contentsOf: line.utf8)
            bytes.append(0x0A)
        }
        try socket.writeAll(bytes)
    }

    /// The next reply line as text.
    func readLine() throws(ClientError) -> String {
        String(decoding: try reader.line(), as: UTF8.self)
    }

    /// Sends `lines` and returns one reply line for each.
    func exchange(_ lines: [String]) throws(ClientError) -> [String] {
        try send(lines)
        var replies: [String] = []
        replies.reserveCapacity(lines.count)
        for _ in lines { replies.append(try readLine()) }
        return replies
    }

    func close() {
        socket.close()
    }
}
