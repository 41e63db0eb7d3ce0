/// Applying logged events straight from their payload bytes: replay and recovery's path.
extension Projection {
    /// Why a logged payload could not be applied.
    public enum RecordFailure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The payload is not an event.
        case undecodable(EventCodec.DecodeError)
        /// The event breaks a rule of the state machine.
        case rule(TallyRule)

        public var description: String {
            switch self {
            case .undecodable(let error): return error.description
            case .rule(let rule): return "\(rule)"
            }
        }
    }

    /// Applies the event whose payload is `payload`, exactly as `apply(EventCodec.decode(payload))`
    /// would, but a vote or a retraction is applied without making a `String`: its poll is found
    /// by its id's bytes, its option by comparing bytes, its voter's ballot with one lookup.
    ///
    /// With `unlessCovered`, an event this state already holds (see `covers`) is skipped: the
    /// state was restored from a snapshot. Returns the event's seq and whether it was applied.
    /// On a throw the state is unchanged.
    @discardableResult
    @inline(__always)
    public mutating func apply(record payload: UnsafeRawBufferPointer, unlessCovered: Bool = false)
        throws(RecordFailure) -> (seq: UInt64, applied: Bool) {
        try apply(record: payload, prepared: prepare(record: payload), unlessCovered: unlessCovered)
    }

    /// `apply(record:unlessCovered:)` of a record this projection prepared earlier with
    /// `prepare(record:)`, perhaps before applying the records logged between the two.
    @discardableResult
    public mutating func apply(record payload: UnsafeRawBufferPointer, prepared: PreparedRecord, unlessCovered: Bool = false)
        throws(RecordFailure) -> (seq: UInt64, applied: Bool) {
        let position = prepared.position
        guard position >= 0 else { return try applyInFull(record: payload, unlessCovered: unlessCovered) }
        let voter = UnsafeRawBufferPointer(rebasing: payload[prepared.voter])
        let option = prepared.option >= 0 ? prepared.option : nil
        // One in-place call on the poll's state: reading its fields here would copy it.
        switch states[position].apply(voter: voter, hash: prepared.voterHash, option: option, seq: prepared.seq, unlessCovered: unlessCovered) {
        case .applied: return (prepared.seq, true)
        case .covered: return (prepared.seq, false)
        // Refused, nothing changed: the full reading names the rule broken, with the ids.
        case .refused: return try applyInFull(record: payload, unlessCovered: unlessCovered)
        }
    }

    /// Reads a logged vote or retraction far enough to apply it later without reading it again:
    /// decodes it in place, finds its poll and option, hashes its voter and starts loading that
    /// voter's ballot slot into the cache. Changes nothing (it is `mutating` only to reach the
    /// poll's table in place, see `BallotTable.prefetch(hash:)`); anything but a vote or a
    /// retraction of a poll and option the projection holds now comes back as `.readInFull`.
    @inline(__always)
    public mutating func prepare(record payload: UnsafeRawBufferPointer) -> PreparedRecord {
        guard let view = try? EventView(payload), view.kind == .voteCast || view.kind == .voteRetracted,
              let position = index.position(of: UnsafeRawBufferPointer(rebasing: payload[view.poll])) else { return .readInFull }
        let voterHash = IDHash.hash(UnsafeRawBufferPointer(rebasing: payload[view.voter]), key: states[position].ballots.hashKey)
        var option = -1
        if view.kind == .voteCast {
            guard let found = optionIDs.index(of: UnsafeRawBufferPointer(rebasing: payload[view.option]), inPoll: position) else {
                return .readInFull
            }
            option = found
        }
        states[position].ballots.prefetch(hash: voterHash)
        return PreparedRecord(position: position, option: option, seq: view.seq, voterHash: voterHash, voter: view.voter)
    }

    /// The whole reading of a record, for everything `prepare` leaves to it; the one place that
    /// turns a refused record into its `RecordFailure`.
    private mutating func applyInFull(record payload: UnsafeRawBufferPointer, unlessCovered: Bool)
        throws(RecordFailure) -> (seq: UInt64, applied: Bool) {
        let view: EventView
        do throws(EventCodec.DecodeError) { view = try EventView(payload) } catch { throw .undecodable(error) }
        switch view.kind {
        case .pollCreated, .pollClosed:
            let event: Event
            do throws(EventCodec.DecodeError) { event = try EventCodec.decode(payload) } catch { throw .undecodable(error) }
            do throws(TallyRule) {
                if unlessCovered { return (view.seq, try applyUnlessCovered(event) != nil) }
                try apply(event)
                return (view.seq, true)
            } catch {
                throw .rule(error)
            }
        case .voteCast, .voteRetracted:
            let pollID = UnsafeRawBufferPointer(rebasing: payload[view.poll])
            guard let position = index.position(of: pollID) else { throw .rule(.noSuchPoll(Self.string(pollID))) }
            let voterID = UnsafeRawBufferPointer(rebasing: payload[view.voter])
            var option: Int?
            if view.kind == .voteCast {
                let optionID = UnsafeRawBufferPointer(rebasing: payload[view.option])
                option = optionIDs.index(of: optionID, inPoll: position)
                if option == nil {
                    // `PollState.apply`'s order of checks, which an unknown option never reaches:
                    // a covered event is skipped, and a closed poll is named before the option.
                    if unlessCovered, states[position].tally.lastSeq >= view.seq { return (view.seq, false) }
                    if !states[position].tally.isOpen { throw .rule(.pollClosed(Self.string(pollID))) }
                    throw .rule(.noSuchOption(poll: Self.string(pollID), option: Self.string(optionID)))
                }
            }
            switch states[position].apply(voter: voterID, hash: IDHash.hash(voterID, key: states[position].ballots.hashKey),
                                          option: option, seq: view.seq, unlessCovered: unlessCovered) {
            case .applied: return (view.seq, true)
            case .covered: return (view.seq, false)
            case .refused(let refusal): throw .rule(Self.rule(refusal, poll: Self.string(pollID), voter: Self.string(voterID)))
            }
        }
    }

    /// The rule a refused vote or retraction broke, naming its ids.
    static func rule(_ refusal: PollState.Refusal, poll: String, voter: String) -> TallyRule {
        switch refusal {
        case .closed: return .pollClosed(poll)
        case .unchanged: return .unchangedVote(poll: poll, voter: voter)
        case .noVote: return .noVote(poll: poll, voter: voter)
        case .full: return .pollFull(poll)
        }
    }

    static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
