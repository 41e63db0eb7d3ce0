/// One generated vote, as indices: voter `v<voter>` picks option `o<option>` in poll `p<poll>`.
public struct Vote: Sendable, Equatable {
    public var poll: UInt32
    public var voter: UInt32
    public var option: UInt16

    public init(poll: UInt32, voter: UInt32, option: UInt16) {
        self.poll = poll
        self.voter = voter
        self.option = option
    }
}
