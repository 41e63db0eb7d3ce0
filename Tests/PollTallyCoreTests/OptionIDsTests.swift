import Testing
@testable import PollTallyCore

@Suite("OptionIDs")
struct OptionIDsTests {
    static func index(_ ids: OptionIDs, _ option: String, inPoll position: Int) -> Int? {
        Array(option.utf8).withUnsafeBytes { ids.index(of: $0, inPoll: position) }
    }

    @Test("each poll finds its own options by their bytes, and only its own")
    func findsOwnOptions() {
        let polls = [["yes", "no"], ["o1", "o10", "o100", "o"], ["no", "yes", "maybe"], [String(repeating: "x", count: 64), "é-✓"]]
        var ids = OptionIDs()
        for options in polls { ids.append(options) }
        for (position, options) in polls.enumerated() {
            for (expected, option) in options.enumerated() {
                #expect(Self.index(ids, option, inPoll: position) == expected, "\(option) in poll \(position)")
            }
            // Ids of the other polls, prefixes and extensions of its own, are not its options.
            for other in polls.joined() where !options.contains(other) {
                #expect(Self.index(ids, other, inPoll: position) == nil, "\(other) in poll \(position)")
            }
            for option in options {
                #expect(Self.index(ids, option + "0", inPoll: position) == (options.firstIndex(of: option + "0")))
                if option.utf8.count > 1 {
                    let shorter = String(decoding: option.utf8.dropLast(), as: UTF8.self)
                    #expect(Self.index(ids, shorter, inPoll: position) == options.firstIndex(of: shorter))
                }
            }
        }
    }
}
