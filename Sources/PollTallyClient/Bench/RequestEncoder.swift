/// Renders votes as request bytes in one dialect, from poll and option names rendered once up front.
struct RequestEncoder: Sendable {
    private let dialect: Dialect
    private let prefix: [UInt8]
    private let pollNames: [[UInt8]]
    private let optionNames: [[UInt8]]
    private let terminator: [UInt8]

    init(dialect: Dialect, polls: Int, options: Int) {
        self.dialect = dialect
        switch dialect {
        case .polltally: prefix = Array("VOTE ".utf8)
        case .redisVote(let sha): prefix = Array("EVALSHA \(sha) 0 ".utf8)
        case .redisIncrement: prefix = Array("HINCRBY counts:".utf8)
        }
        terminator = dialect == .polltally ? [0x0A] : [0x0D, 0x0A]
        pollNames = (0..<polls).map { Array(Workload.pollName($0).utf8) }
        optionNames = (0..<options).map { Array(Workload.optionName($0).utf8) }
    }

    /// Appends the request line for `vote` to `buffer`.
    @inline(__always)
    func encode(_ vote: Vote, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: prefix)
        buffer.append(contentsOf: pollNames[Int(vote.poll)])
        buffer.append(UInt8(ascii: " "))
        if dialect == .redisIncrement {
            buffer.append(contentsOf: optionNames[Int(vote.option)])
            buffer.append(UInt8(ascii: " "))
            buffer.append(UInt8(ascii: "1"))
        } else {
            buffer.append(UInt8(ascii: "v"))
            Self.appendDecimal(vote.voter, to: &buffer)
            buffer.append(UInt8(ascii: " "))
            buffer.append(contentsOf: optionNames[Int(vote.option)])
        }
        buffer.append(contentsOf: terminator)
    }

    /// Appends `value` in decimal without building a String.
    @inline(__always)
    static func appendDecimal(_ value: UInt32, to buffer: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
        }
    }
}
