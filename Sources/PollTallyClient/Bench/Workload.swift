/// The seeded vote stream of a run: `votes` votes of a random voter for a random option of a random
/// poll, so voters sometimes vote again (moves and repeats).
///
/// Votes go to connection `voter % connections`, so each voter's votes travel in order on one
/// connection and the final tallies are deterministic whatever the interleaving; `expected` holds them.
public struct Workload: Sendable {
    public let polls: Int
    public let options: Int
    public let voters: Int
    public let votes: Int
    /// The votes of each connection, in sending order.
    public let perConnection: [[Vote]]
    public let expected: ExpectedTally

    public init(polls: Int, options: Int, voters: Int, votes: Int, seed: UInt64, connections: Int) {
        self.polls = polls
        self.options = options
        self.voters = voters
        self.votes = votes
        var random = SplitMix64(seed: seed)
        var lanes = Array(repeating: [Vote](), count: connections)
        for index in lanes.indices { lanes[index].reserveCapacity(votes / connections + 16) }
        var expected = ExpectedTally(polls: polls, options: options)
        var held: [UInt64: UInt16] = [:]
        held.reserveCapacity(min(votes, polls * voters))
        for _ in 0..<votes {
            let vote = Vote(
                poll: UInt32(random.below(polls)),
                voter: UInt32(random.below(voters)),
                option: UInt16(random.below(options)))
            let key = UInt64(vote.poll) << 32 | UInt64(vote.voter)
            expected.apply(vote, previous: held.updateValue(vote.option, forKey: key))
            lanes[Int(vote.voter) % connections].append(vote)
        }
        perConnection = lanes
        self.expected = expected
    }

    public static func pollName(_ index: Int) -> String { "p\(index)" }
    public static func optionName(_ index: Int) -> String { "o\(index)" }
    public static func voterName(_ index: Int) -> String { "v\(index)" }

    /// The names of the options of every poll, `o0` … `o<options-1>`.
    public var optionNames: [String] { (0..<options).map(Self.optionName) }
}
