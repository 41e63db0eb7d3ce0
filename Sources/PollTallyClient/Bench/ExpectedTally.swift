/// The tallies a server must end with after a workload: per poll, how many voters hold each option
/// (a voter's last vote counts), plus how the votes split into first votes, moves and repeats.
public struct ExpectedTally: Sendable {
    /// `counts[poll][option]`.
    public private(set) var counts: [[Int]]
    /// Votes by a voter with no vote yet in that poll.
    public private(set) var firstVotes = 0
    /// Votes that moved a voter to another option.
    public private(set) var moves = 0
    /// Votes for the option the voter already held: nothing changes.
    public private(set) var repeats = 0

    public init(polls: Int, options: Int) {
        counts = Array(repeating: Array(repeating: 0, count: options), count: polls)
    }

    /// Counts `vote`, given the option its voter held in that poll before it (nil for none).
    mutating func apply(_ vote: Vote, previous: UInt16?) {
        let poll = Int(vote.poll)
        switch previous {
        case nil:
            firstVotes += 1
        case .some(vote.option):
            repeats += 1
            return
        case .some(let old):
            moves += 1
            counts[poll][Int(old)] -= 1
        }
        counts[poll][Int(vote.option)] += 1
    }

    /// Voters holding a vote in `poll`.
    public func total(poll: Int) -> Int { counts[poll].reduce(0, +) }
}
