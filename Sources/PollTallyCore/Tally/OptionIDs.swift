/// Every poll's option ids as bytes in one arena, by the poll's position in the projection: how a
/// vote's option is found, from a logged vote's bytes (replay, once per event) or a command's
/// `String` (`decide`), without comparing `String`s.
///
/// One flat index for all polls, not one per poll: a lookup through the array of poll states
/// copies the state (retains and releases), which costs more than the comparison.
struct OptionIDs: Sendable {
    /// The ids back to back, poll after poll, each poll's in option order.
    private var arena: [UInt8] = []
    /// Where each id ends in `arena`; an id starts where the one before it ends.
    private var ends: [Int] = []
    /// Poll `p`'s ids are `ends[polls[p]..<polls[p + 1]]`.
    private var polls: [Int] = [0]

    /// Adds the options of the poll at the next position.
    mutating func append(_ options: [String]) {
        for option in options {
            arena.append(contentsOf: option.utf8)
            ends.append(arena.count)
        }
        polls.append(ends.count)
    }

    /// The index of the option `id` in the poll at `position` (a command's option, `decide`).
    func index(of id: String, inPoll position: Int) -> Int? {
        var id = id
        return id.withUTF8 { index(of: UnsafeRawBufferPointer($0), inPoll: position) }
    }

    /// The index of the option whose id is `id` in the poll at `position`.
    @inline(__always)
    func index(of id: UnsafeRawBufferPointer, inPoll position: Int) -> Int? {
        let first = polls[position], last = polls[position + 1]
        return arena.withUnsafeBytes { arena in
            guard let base = arena.baseAddress, let key = id.baseAddress else { return nil }
            var start = first == 0 ? 0 : ends[first - 1]
            for option in first..<last {
                let end = ends[option]
                if end - start == id.count, IDBytes.equal(base + start, key, count: id.count) { return option - first }
                start = end
            }
            return nil
        }
    }
}
