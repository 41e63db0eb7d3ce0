import PollTallyTestSupport
import Foundation
import Testing
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `polltally serve` killed with SIGKILL or stopped with SIGTERM, then restarted on the same folder.
@Suite("Crash recovery of the built binary")
struct CrashRecoveryTests {
    struct Ack: Sendable {
        var poll: String
        var voter: String
        var option: String
        var seq: UInt64
    }

    static let polls = ["k0", "k1"]
    static let options = ["a", "b", "c"]

    /// Rounds of: several connections pipeline votes under `--fsync always`, SIGKILL at a different
    /// moment each round, restart. Every acknowledged vote must be in the log (`dump`), counted in
    /// the restarted server's tally, and `replay` must print exactly the server's TALLY lines.
    /// With `--snapshot-every 500`, snapshots are taken in the background while the votes flow (and
    /// the kill may land in the middle of one); each restart loads the newest and reads only the log
    /// after it, and must still agree with `replay` of the full log; `verify` checks every snapshot.
    @Test(arguments: [nil, 500] as [Int?])
    func sigkillLosesNoAcknowledgedVote(snapshotEvery: Int?) throws {
        // Acks needed before the kill; 0 kills as soon as the writers have started.
        let killAfter = [1, 40, 300, 0, 1200, 2500, 7, 150, 600, 0, 2000, 90, 3, 450, 1000, 60, 0, 1500, 250, 20, 800, 5]
        try Self.killRounds(fsync: nil, snapshotEvery: snapshotEvery, killAfter: killAfter)
    }

    /// The same rounds under `--fsync interval:1000` and `never`, where an acknowledgement waits
    /// only for the write to the OS (the appending shard writes the log itself, `writePending`):
    /// a process crash loses none of it, since the kernel keeps what was written. Fewer rounds;
    /// `never` also takes snapshots on the way.
    @Test(arguments: [("interval:1000", nil), ("never", 500)] as [(String, Int?)])
    func sigkillLosesNoVoteAcknowledgedAfterTheWriteOnly(fsync: String, snapshotEvery: Int?) throws {
        try Self.killRounds(fsync: fsync, snapshotEvery: snapshotEvery, killAfter: [1200, 1, 300, 0, 2500, 40, 7, 600])
    }

    /// The long soak, run by `Tests/e2e/crash-soak.sh` and skipped by a plain `swift test`:
    /// `POLLTALLY_SOAK_ROUNDS` rounds under `--fsync always` with snapshots every 500 events, each
    /// killed at a point drawn from `POLLTALLY_SOAK_SEED` (printed, so a failing run can be repeated).
    @Test(.enabled(if: CrashSoak.rounds > 0, "set POLLTALLY_SOAK_ROUNDS (Tests/e2e/crash-soak.sh)"))
    func sigkillSoak() throws {
        print("soak: \(CrashSoak.rounds) rounds, seed \(CrashSoak.seed)")
        try Self.killRounds(fsync: nil, snapshotEvery: 500, killAfter: CrashSoak.killPoints())
    }

    /// Rounds of: start `serve` on one folder, pipeline votes from several connections, SIGKILL once
    /// `killAfter[round]` were acknowledged, restart and check every acknowledged vote (`verify`).
    static func killRounds(fsync: String?, snapshotEvery: Int?, killAfter: [Int]) throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let data = folder + "/data"
        let flags = (snapshotEvery.map { ["--snapshot-every", "\($0)"] } ?? []) + (fsync.map { ["--fsync", $0] } ?? [])
        var allAcks: [Ack] = []
        var allSent: Set<String> = []
        var lastSeqSeen: UInt64 = 0
        var startsFromASnapshot = 0

        for (round, threshold) in killAfter.enumerated() {
            let server = try ServerProcess(dataPath: data, extra: flags)
            defer { server.stop() }
            if server.child.stdout.contains("snapshot at seq") { startsFromASnapshot += 1 }
            try Self.verify(server, acks: allAcks, sent: allSent, round: round)
            let setup = try server.client()
            if round == 0 {
                for poll in Self.polls { #expect(okSeq(try setup.request("CREATE \(poll) a,b,c")) != nil) }
            }
            // The restarted server continues the seqs after everything that survived.
            let probeLine = "VOTE k0 probe-r\(round) \(Self.options[round % 3])"
            allSent.insert(probeLine)
            let probe = try setup.request(probeLine)
            let probeSeq = try #require(okSeq(probe))
            #expect(probeSeq > lastSeqSeen)
            allAcks.append(Ack(poll: "k0", voter: "probe-r\(round)", option: Self.options[round % 3], seq: probeSeq))

            let acks = Locked([Ack]())
            let sent = Locked(Set<String>())
            let connections = 4
            let pid = server.pid
            let port = server.port
            try runConcurrently(connections + 1) { index in
                if index == connections {
                    // The killer.
                    if threshold > 0 { _ = waitUntil(timeout: 20) { acks.withLock { $0.count } >= threshold } } else { usleep(2_000) }
                    kill(pid, SIGKILL)
                    return
                }
                guard let client = try? TestClient(port: port) else { return }
                var rng = SplitMix64(seed: UInt64(round * 100 + index))
                for _ in 0..<80 {
                    let votes: [(poll: String, voter: String, option: String)] = (0..<50).map { _ in
                        let poll = Self.polls[Int.random(in: 0..<2, using: &rng)]
                        // Each connection owns its voters, so its acks for one voter are in order.
                        let voter = "c\(index)-v\(Int.random(in: 0..<300, using: &rng))"
                        return (poll, voter, Self.options[Int.random(in: 0..<3, using: &rng)])
                    }
                    let lines = votes.map { "VOTE \($0.poll) \($0.voter) \($0.option)" }
                    sent.withLock { $0.formUnion(lines) }
                    do {
                        try client.send(lines: lines)
                        for vote in votes {
                            guard let reply = try client.readLine(timeout: 10) else { return }
                            guard let seq = okSeq(reply) else { throw ProcessTestError("VOTE \(vote) → \(reply)") }
                            acks.withLock { $0.append(Ack(poll: vote.poll, voter: vote.voter, option: vote.option, seq: seq)) }
                        }
                    } catch let error as TestClientError {
                        _ = error   // The server died under us: expected.
                        return
                    }
                }
            }
            let exit = server.child.waitForExit(timeout: 10)
            #expect(exit == .signal(SIGKILL), "round \(round): \(String(describing: exit))")
            let roundAcks = acks.withLock { $0 }
            allAcks += roundAcks
            allSent.formUnion(sent.withLock { $0 })
            lastSeqSeen = max(lastSeqSeen, roundAcks.map(\.seq).max() ?? probeSeq)
            print("round \(round)\(fsync.map { " (fsync \($0))" } ?? ""): killed after \(roundAcks.count) acknowledged votes (threshold \(threshold))")
        }
        // A last start checks the last kill, then a clean stop.
        let server = try ServerProcess(dataPath: data, extra: flags)
        defer { server.stop() }
        try Self.verify(server, acks: allAcks, sent: allSent, round: killAfter.count)
        #expect(server.terminate() == .code(0))
        let verify = try runPolltally(["verify", "--data", data])
        #expect(verify.exit == .code(0), "\(verify.stderr)")
        if snapshotEvery != nil {
            #expect(startsFromASnapshot >= killAfter.count / 2, "only \(startsFromASnapshot) of \(killAfter.count) starts loaded a snapshot")
            #expect(verify.stdout.contains("agrees with the log"), "\(verify.stdout)")
        }
    }

    /// Checks a freshly started server against the acknowledgements so far, and its log against
    /// every vote the clients sent (acknowledged or not).
    static func verify(_ server: ServerProcess, acks: [Ack], sent: Set<String>, round: Int) throws {
        guard !acks.isEmpty else { return }
        let client = try server.client()
        let tallies = try serverTallies(client)
        #expect(tallies.count == polls.count, "round \(round): \(tallies)")
        // replay prints exactly the restarted server's TALLY lines.
        let replayed = try replayLines(server.dataPath)
        #expect(replayed == tallies, "round \(round): replay \(replayed) vs server \(tallies)")

        // Each acknowledged seq holds exactly the acknowledged vote.
        let events = try dumpEvents(server.dataPath)
        #expect(events.map(\.seq) == Array(1...UInt64(events.count)), "round \(round): dump seqs are not 1...n")
        let bySeq = Dictionary(events.map { ($0.seq, $0.command) }, uniquingKeysWith: { first, _ in first })
        let wrong = acks.filter { bySeq[$0.seq] != "VOTE \($0.poll) \($0.voter) \($0.option)" }
        #expect(wrong.isEmpty, "round \(round): \(wrong.count) acknowledged votes missing or different in dump, e.g. \(wrong.prefix(3).map { "\($0.seq) \($0.voter) \($0.option) → \(bySeq[$0.seq] ?? "absent")" })")
        // Nothing in the log that no client sent: every event is a CREATE of the test or a sent vote.
        let unsent = events.filter { event in
            event.command.hasPrefix("CREATE ") ? !polls.contains { event.command.hasPrefix("CREATE \($0) ") } : !sent.contains(event.command)
        }
        #expect(unsent.isEmpty, "round \(round): \(unsent.count) events no client sent, e.g. \(unsent.prefix(3).map { "\($0.seq) \($0.command)" })")

        // Counted: each voter's current vote is its last acknowledged one or a later (unacknowledged) one.
        var current: [String: (seq: UInt64, option: String)] = [:]
        for event in events {
            let fields = event.command.split(separator: " ").map(String.init)
            if fields.first == "VOTE", fields.count == 4 { current[fields[1] + "/" + fields[2]] = (event.seq, fields[3]) }
        }
        var lastAck: [String: Ack] = [:]
        for ack in acks { lastAck[ack.poll + "/" + ack.voter] = ack }
        let lost = lastAck.values.filter { ack in
            guard let now = current[ack.poll + "/" + ack.voter] else { return true }
            return now.seq < ack.seq || (now.seq == ack.seq && now.option != ack.option)
        }
        #expect(lost.isEmpty, "round \(round): acknowledged votes not counted: \(lost.prefix(3))")
        for poll in polls {
            let votes = current.filter { $0.key.hasPrefix(poll + "/") }
            let line = "TALLY \(poll) "
            let tally = try #require(tallies.first { $0.hasPrefix(line) })
            let counts = options.map { option in votes.values.filter { $0.option == option }.count }
            #expect(tally.hasSuffix(" open a=\(counts[0]) b=\(counts[1]) c=\(counts[2]) total=\(votes.count)"), "round \(round): \(tally)")
        }
    }

    /// A server on a fresh data folder in `folder`, a client, and the poll `create` made (seq 1).
    static func serverWithPoll(in folder: String, _ create: String) throws -> (data: String, server: ServerProcess, client: TestClient) {
        let data = folder + "/data"
        let server = try ServerProcess(dataPath: data)
        let client = try server.client()
        #expect(try client.request(create) == "OK 1")
        return (data, server, client)
    }

    /// SIGTERM: connected clients hear BYE, the exit status is 0, the next start recovers every event.
    @Test func sigtermExitsZeroAndTheNextStartRecoversEverything() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        var (data, server, client) = try Self.serverWithPoll(in: folder, "CREATE t yes,no Shall we?")
        defer { server.stop() }
        try client.send(lines: (0..<500).map { "VOTE t v\($0) \($0 % 3 == 0 ? "no" : "yes")" })
        #expect(try client.readLines(500) == (2...501).map { "OK \($0)" })
        #expect(try client.request("UNVOTE t v0") == "OK 502")
        let tally = try client.request("TALLY t")
        #expect(tally == "TALLY t 502 open yes=333 no=166 total=499")
        let watcher = try server.client()
        try watcher.send("WATCH t\n")
        #expect(try watcher.readLines(2).first == "OK watching 1")

        #expect(server.terminate() == .code(0))
        #expect(try client.readUntilEOF() == ["BYE server shutting down"])
        #expect(try watcher.readUntilEOF() == ["BYE server shutting down"])
        #expect(server.child.stderr.contains("shutting down"))
        #expect(try runPolltally(["verify", "--data", data]).exit == .code(0))

        server = try ServerProcess(dataPath: data)
        #expect(server.child.stdout.contains("recovered 502 events (last seq 502,"), "\(server.child.stdout)")
        #expect(!server.child.stderr.contains("torn tail"))
        let again = try server.client()
        #expect(try again.request("TALLY t") == tally)
        #expect(try again.request("VOTE t v0 no") == "OK 503")
        // SIGINT stops it cleanly too.
        server.child.send(SIGINT)
        #expect(server.child.waitForExit(timeout: 15) == .code(0))
        #expect(try replayLines(data) == ["TALLY t 503 open yes=333 no=167 total=500"])
    }

    /// A start from the snapshot takes each ballot table back with the hash key it was written
    /// with, while the new process draws another key of its own: every voter is found again, by
    /// a repeat (the earlier seq, nothing appended) and by a move (the totals stay).
    @Test func aRestartFromTheSnapshotFindsEveryVoter() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        var (data, server, client) = try Self.serverWithPoll(in: folder, "CREATE t yes,no")
        defer { server.stop() }
        let votes = (0..<2000).map { "VOTE t v\($0) \($0 % 3 == 0 ? "no" : "yes")" }
        try client.send(lines: votes)
        let acks = try client.readLines(2000)
        #expect(acks == (2...2001).map { "OK \($0)" })
        #expect(server.terminate() == .code(0))

        server = try ServerProcess(dataPath: data)
        #expect(server.child.stdout.contains("snapshot at seq 2001 + 0 from the log"), "\(server.child.stdout)")
        let again = try server.client()
        try again.send(lines: votes)
        #expect(try again.readLines(2000) == acks)
        try again.send(lines: (0..<2000).map { "VOTE t v\($0) \($0 % 3 == 0 ? "yes" : "no")" })
        #expect(try again.readLines(2000) == (2002...4001).map { "OK \($0)" })
        #expect(try again.request("TALLY t") == "TALLY t 4001 open yes=667 no=1333 total=2000")
    }

    @Test func aSecondServerOnTheSameFolderIsRefused() throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let server = try ServerProcess(dataPath: folder + "/data")
        defer { server.stop() }
        let second = try runPolltally(["serve", "--port", "0", "--data", folder + "/data"], timeout: 15)
        #expect(second.exit == .code(1))
        #expect(second.stderr.contains("in use"), "\(second.stderr)")
        #expect(try server.client().request("PING") == "PONG")
    }
}

/// The soak's settings, from the environment of `swift test` (`Tests/e2e/crash-soak.sh`).
enum CrashSoak {
    static let rounds = Int(ProcessInfo.processInfo.environment["POLLTALLY_SOAK_ROUNDS"] ?? "") ?? 0
    static let seed = UInt64(ProcessInfo.processInfo.environment["POLLTALLY_SOAK_SEED"] ?? "") ?? 1

    /// How many acknowledgements each round waits for before its SIGKILL: a quarter of the rounds
    /// kill at once or after a few votes, the rest anywhere up to 4,000 (a round sends at most 16,000).
    static func killPoints() -> [Int] {
        var rng = SplitMix64(seed: seed)
        return (0..<rounds).map { _ in
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: Int.random(in: 0...10, using: &rng)
            case 1: Int.random(in: 10...300, using: &rng)
            case 2: Int.random(in: 300...1500, using: &rng)
            default: Int.random(in: 1500...4000, using: &rng)
            }
        }
    }
}
