public import PollTallyClient

/// The seeded generator of the bench workload, for randomised tests that must replay identically.
public typealias SplitMix64 = PollTallyClient.SplitMix64
