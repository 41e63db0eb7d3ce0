import Testing
@testable import PollTallyCore

@Suite("ErrorCode and TallyRule replies")
struct ErrorCodeTests {
    @Test("ProtocolError renders as ERR <code> <message>")
    func line() {
        #expect(ProtocolError(.noSuchPoll, "no poll named x").line == "ERR no-such-poll no poll named x")
    }

    @Test("codes are the documented wire strings")
    func codes() {
        #expect(ErrorCode.allCases.map(\.rawValue) == [
            "unknown-command", "bad-request", "line-too-long", "unavailable", "poll-exists",
            "no-such-poll", "no-such-option", "poll-closed", "no-vote", "slow-consumer", "idle-timeout",
            "auth-required", "auth-failed", "too-many-connections", "poll-full",
        ])
    }

    @Test("each tally rule maps to its code and names its ids", arguments: [
        (TallyRule.pollExists("lunch"), ErrorCode.pollExists, ["lunch"]),
        (.noSuchPoll("lunch"), .noSuchPoll, ["lunch"]),
        (.noSuchOption(poll: "lunch", option: "pasta"), .noSuchOption, ["lunch", "pasta"]),
        (.pollClosed("lunch"), .pollClosed, ["lunch"]),
        (.pollFull("lunch"), .pollFull, ["lunch"]),
        (.noVote(poll: "lunch", voter: "alice"), .noVote, ["lunch", "alice"]),
        (.tooFewOptions, .badRequest, ["2"]),
        (.repeatedOption("pizza"), .badRequest, ["pizza"]),
        (.tooManyOptions(64), .badRequest, ["64"]),
        (.invalidIdentifier, .badRequest, []),
        (.unchangedVote(poll: "lunch", voter: "alice"), .badRequest, ["lunch", "alice"]),
    ] as [(TallyRule, ErrorCode, [String])])
    func ruleReplies(_ rule: TallyRule, _ code: ErrorCode, _ mentions: [String]) {
        let error = rule.protocolError
        #expect(error.code == code)
        #expect(!error.message.isEmpty)
        for word in mentions { #expect(error.message.contains(word), "\(error.message)") }
        #expect(!error.line.contains("\n"))
    }
}
