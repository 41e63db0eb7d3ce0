/// Renders votes as request bytes in one dialect, from poll and option names rendered once up front.
/// A PING request is the same bytes whatever the vote.
struct RequestEncoder: Sendable {
    /// What follows the prefix.
    private enum Shape {
        /// `<poll> v<voter> <option>`, then the terminator.
        case vote
        /// `<poll> <option> 1`, then the terminator.
        case increment
        /// Nothing: the prefix is the whole request line.
        case fixed
    }

    private let shape: Shape
    private let prefix: [UInt8]
    private let pollNames: [[UInt8]]
    private let optionNames: [[UInt8]]
    private let terminator: [UInt8]

    init(dialect: Dialect, polls: Int, options: Int) {
        switch dialect {
        case .polltally: (shape, prefix) = (.vote, Array("VOTE ".utf8))
        case .polltallyPing: (shape, prefix) = (.fixed, Array("PING".utf8))
        case .redisVote(let sha): (shape, prefix) = (.vote, Array("EVALSHA \(sha) 0 ".utf8))
        case .redisIncrement: (shape, prefix) = (.increment, Array("HINCRBY counts:".utf8))
        case .redisPing: (shape, prefix) = (.fixed, Array("PING".utf8))
        }
        switch dialect {
        case .polltally, .polltallyPing: terminator = [0x0A]
        case .redisVote, .redisIncrement, .redisPing: terminator = [0x0D, 0x0A]
        }
        let names = shape != .fixed
        pollNames = names ? (0..<polls).map { Array(Workload.pollName($0).utf8) } : []
        optionNames = names ? (0..<options).map { Array(Workload.optionName($0).utf8) } : []
    }

    /// Appends the request line for `vote` to `buffer`.
    @inline(__always)
    func encode(_ vote: Vote, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: prefix)
        switch shape {
        case .fixed:
            break
        case .increment:
            buffer.append(contentsOf: pollNames[Int(vote.poll)])
            buffer.append(UInt8(ascii: " "))
            buffer.append(contentsOf: optionNames[Int(vote.option)])
            buffer.append(UInt8(ascii: " "))
            buffer.append(UInt8(ascii: "1"))
        case .vote:
            buffer.append(contentsOf: pollNames[Int(vote.poll)])
            buffer.append(UInt8(ascii: " "))
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
