@testable import PollTallyCore
import PollTallyTestSupport


/// The payload bytes of `event`.
func encoded(_ event: Event) -> [UInt8] {
    var bytes: [UInt8] = []
    EventCodec.encode(event, into: &bytes)
    return bytes
}

/// Decodes `bytes` as an event payload, capturing the typed error.
func decodeResult(_ bytes: [UInt8]) -> Result<Event, EventCodec.DecodeError> {
    do throws(EventCodec.DecodeError) {
        return .success(try EventCodec.decode(bytes[...]))
    } catch {
        return .failure(error)
    }
}

/// Decodes `bytes` through the raw-buffer overload.
func decodeRawResult(_ bytes: [UInt8]) -> Result<Event, EventCodec.DecodeError> {
    bytes.withUnsafeBytes { raw in
        do throws(EventCodec.DecodeError) {
            return .success(try EventCodec.decode(raw))
        } catch {
            return .failure(error)
        }
    }
}

/// Applies `event` to `projection`, capturing the typed error.
func applyResult(_ projection: inout Projection, _ event: Event) -> Result<TallyEffect, TallyRule> {
    do throws(TallyRule) {
        return .success(try projection.apply(event))
    } catch {
        return .failure(error)
    }
}

/// A tally of `poll` with `counts` votes per option (by applying vote effects), open or closed.
func makeTally(poll: String, options: [String], question: String = "", counts: [Int], open: Bool = true, lastSeq: UInt64) -> Tally {
    var tally = Tally(poll: poll, options: options, question: question, seq: 1)
    for (index, count) in counts.enumerated() {
        for _ in 0..<count { tally.apply(.voteMoved(from: nil, to: index), seq: 1) }
    }
    if !open { tally.apply(.closed, seq: 1) }
    tally.apply(.created(tally), seq: lastSeq)
    return tally
}
