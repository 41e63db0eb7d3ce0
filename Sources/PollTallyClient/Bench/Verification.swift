/// The outcome of comparing the server's final tallies with the expected ones.
public struct Verification: Sendable {
    /// What the report's `verified=` field says: every tally matched, one did not, or the target
    /// keeps no voters (bare `HINCRBY`, `PING`), so there is nothing to compare.
    public enum Status: String, Sendable {
        case yes
        case no
        case notApplicable = "n/a"
    }

    public private(set) var status: Status
    public private(set) var pollsChecked = 0
    /// The first few differences, for people.
    public private(set) var mismatches: [String] = []
    public private(set) var mismatchCount = 0

    static let maxListed = 10

    init(status: Status) { self.status = status }

    /// Nothing to compare (a bare counter has no voters).
    static let notApplicable = Verification(status: .notApplicable)

    /// An empty comparison, to be filled by `check` and `mismatch`.
    static func started() -> Verification { Verification(status: .yes) }

    mutating func checkedPoll() { pollsChecked += 1 }

    /// Notes a difference unless `actual` equals `expected`.
    mutating func check(_ what: @autoclosure () -> String, expected: Int, actual: Int) {
        if expected != actual { mismatch("\(what()): expected \(expected), server has \(actual)") }
    }

    mutating func mismatch(_ text: String) {
        status = .no
        mismatchCount += 1
        if mismatches.count < Self.maxListed { mismatches.append(text) }
    }
}
