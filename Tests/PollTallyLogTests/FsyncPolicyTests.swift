import Testing
@testable import PollTallyLog

@Suite("FsyncPolicy")
struct FsyncPolicyTests {
    @Test("parses always, never and interval:<ms>")
    func parsesValid() {
        #expect(FsyncPolicy("always") == .always)
        #expect(FsyncPolicy("never") == .never)
        #expect(FsyncPolicy("interval:1000") == .interval(milliseconds: 1000))
        #expect(FsyncPolicy("interval:1") == .interval(milliseconds: 1))
        #expect(FsyncPolicy("interval:3600000") == .interval(milliseconds: 3_600_000))
    }

    @Test("rejects anything else", arguments: [
        "interval:0", "interval:x", "sometimes", "", "interval:", "interval:-5", "interval:3600001",
        "interval:1000ms", "Always", " always", "always ", "interval: 1000", "interval:1.5", "interval",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(FsyncPolicy(text) == nil)
    }

    @Test("description round-trips through the parser", arguments: [
        FsyncPolicy.always, .never, .interval(milliseconds: 1), .interval(milliseconds: 1000), .interval(milliseconds: 3_600_000),
    ])
    func descriptionRoundTrip(_ policy: FsyncPolicy) {
        #expect(FsyncPolicy(policy.description) == policy)
    }

    @Test("descriptions are the flag spellings")
    func descriptions() {
        #expect(FsyncPolicy.always.description == "always")
        #expect(FsyncPolicy.never.description == "never")
        #expect(FsyncPolicy.interval(milliseconds: 250).description == "interval:250")
    }
}
