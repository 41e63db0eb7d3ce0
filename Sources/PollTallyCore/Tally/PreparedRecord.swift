/// What `Projection.prepare(record:)` read from a logged vote or retraction ahead of applying it:
/// where its poll is, which option, and the voter's hash, whose ballot slot it asked the cache for.
///
/// Replay prepares each record a few records before it applies it, so that the slot's cache miss
/// overlaps the work on the records in between, and applying it then neither reads the payload
/// again nor looks anything up but the ballot. Anything else (a poll's creation or close, a poll
/// or option not there yet, a payload that does not decode) is prepared as `readInFull`, and
/// applying it reads the record as `apply(record:)` always did.
///
/// Only valid for the projection that prepared it, and for the same payload.
public struct PreparedRecord: Sendable {
    /// The poll's position in the projection, or -1: apply the record in full.
    let position: Int
    /// The option's index in the poll, or -1 for a retraction.
    let option: Int
    let seq: UInt64
    /// The voter id hashed with its poll's table's key (`BallotTable.hash(_:)`).
    let voterHash: UInt64
    /// The voter id's bytes within the payload.
    let voter: Range<Int>

    /// Nothing prepared: apply reads the record in full.
    public static let readInFull = PreparedRecord(position: -1, option: -1, seq: 0, voterHash: 0, voter: 0..<0)
}
