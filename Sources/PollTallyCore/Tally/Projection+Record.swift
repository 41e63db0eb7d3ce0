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
    public mutating func apply(record payload: UnsafeRawBufferPointer, unlessCovered: Bool = false)
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
            let optionID = view.kind == .voteCast ? UnsafeRawBufferPointer(rebasing: payload[view.option]) : nil
            // One in-place call on the poll's state: reading its fields here would copy it.
            switch states[position].apply(voter: voterID, option: optionID, seq: view.seq, unlessCovered: unlessCovered) {
            case .applied: return (view.seq, true)
            case .covered: return (view.seq, false)
            case .closed: throw .rule(.pollClosed(Self.string(pollID)))
            case .noSuchOption: throw .rule(.noSuchOption(poll: Self.string(pollID), option: Self.string(optionID ?? voterID)))
            case .unchanged: throw .rule(.unchangedVote(poll: Self.string(pollID), voter: Self.string(voterID)))
            case .noVote: throw .rule(.noVote(poll: Self.string(pollID), voter: Self.string(voterID)))
            case .full: throw .rule(.pollFull(Self.string(pollID)))
            }
        }
    }

    /// Starts loading what applying the vote or retraction in `payload` will touch first (its
    /// voter's home slot in the poll's ballot table) into the cache; a hint that changes nothing.
    /// Replay calls it a few records ahead of `apply(record:)`, so that the misses of tables far
    /// larger than the cache overlap.
    @inline(__always)
    public func prefetch(record payload: UnsafeRawBufferPointer) {
        guard let view = try? EventView(payload), view.kind == .voteCast || view.kind == .voteRetracted,
              let position = index.position(of: UnsafeRawBufferPointer(rebasing: payload[view.poll])) else { return }
        let voter = UnsafeRawBufferPointer(rebasing: payload[view.voter])
        states.withUnsafeBufferPointer { states in states[position].ballots.prefetch(bytes: voter) }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
