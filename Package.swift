// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The server module in release builds: no run-time exclusivity checks. Swift proves exclusive
/// access at compile time wherever it can; what it cannot prove (accesses to the properties of
/// classes and actors: connections, shards) it checks at run time, and in the server those checks
/// and the optimizations they block were 18% of the instructions a vote (callgrind, see
/// PERFORMANCE.md). Debug builds, so every test run, keep the checks: a conflicting access still
/// traps there. The core and the log gained nothing measurable and keep them everywhere.
let uncheckedExclusivityInRelease: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "PollTally",
    products: [
        .executable(name: "polltally", targets: ["polltally"]),
    ],
    targets: [
        // Hardware CRC32C (SSE4.2) with a portable fallback: the one thing Swift cannot reach directly.
        .target(name: "CRC32C"),
        // A cache prefetch hint, which Swift cannot express either.
        .target(name: "CPUHints"),
        // epoll, which Swift's Glibc module does not export: the server's event loops wait on it.
        .target(name: "CEventPoll"),
        // Pure values and functions: events, their codec, the tally state machine, the line protocol.
        .target(name: "PollTallyCore", dependencies: ["CRC32C", "CPUHints"], swiftSettings: strict),
        // The on-disk, append-only event log: files, framing, group commit, recovery.
        .target(name: "PollTallyLog", dependencies: ["PollTallyCore", "CPUHints"], swiftSettings: strict),
        // Sockets, connections, projection actors, watchers.
        .target(name: "PollTallyServer", dependencies: ["PollTallyCore", "PollTallyLog", "CEventPoll"], swiftSettings: uncheckedExclusivityInRelease),
        // Clients of the server: the load generator (`polltally bench`) and the live view (`polltally watch`).
        .target(name: "PollTallyClient", dependencies: ["CEventPoll"], swiftSettings: strict),
        // The command-line tool: flags and wiring only.
        .executableTarget(name: "polltally", dependencies: ["PollTallyCore", "PollTallyLog", "PollTallyServer", "PollTallyClient"], swiftSettings: strict),

        // Shared by the test targets: a blocking TCP line client, stream helpers, a seeded PRNG.
        .target(name: "PollTallyTestSupport", dependencies: ["PollTallyClient"], path: "Tests/PollTallyTestSupport", swiftSettings: strict),
        .testTarget(name: "PollTallyCoreTests", dependencies: ["PollTallyCore", "PollTallyTestSupport"], swiftSettings: strict),
        .testTarget(name: "PollTallyLogTests", dependencies: ["PollTallyLog", "PollTallyCore", "PollTallyTestSupport"], swiftSettings: strict),
        .testTarget(name: "PollTallyServerTests", dependencies: ["PollTallyServer", "PollTallyLog", "PollTallyCore", "PollTallyTestSupport"], swiftSettings: strict),
        .testTarget(name: "PollTallyClientTests", dependencies: ["PollTallyClient"], swiftSettings: strict),
        .testTarget(name: "polltallyTests", dependencies: ["polltally", "PollTallyCore", "PollTallyTestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
