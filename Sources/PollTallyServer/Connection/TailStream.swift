import PollTallyCore
import PollTallyLog

/// The state of one `TAIL`: where it reads next, what it filters, and whether it is live.
///
/// Owned by its connection and confined to the connection's queue, except `cursor`, which is
/// handed to the tail queue for one read at a time (`reading` says when).
final class TailStream: @unchecked Sendable {
    let cursor: LogCursor
    /// Only events of this poll, if set.
    let poll: String?
    /// A read is on the tail queue; do not start another.
    var reading = false
    /// Following the head (a `LIVE` line was sent); false while catching up from disk.
    var live = false

    /// How far behind the head a live tail may fall before it counts as catching up again.
    static let liveWindow: UInt64 = 4096
    /// Unsent bytes past which a tail stops reading until the client drains them.
    static let lowWater = 256 * 1024

    /// `poll`'s bytes, for comparing with the records' in place.
    private let filter: [UInt8]?

    init(cursor: LogCursor, poll: String?) {
        self.cursor = cursor
        self.poll = poll
        filter = poll.map { Array($0.utf8) }
    }

    /// The `EVENT` lines of the next chunk of the log up to `limit` that pass the filter, each
    /// ending in a newline, rendered from the records' bytes (`EventText.appendLine`). Empty when
    /// the log has nothing more up to `limit` yet, or nothing in the chunk passed the filter.
    func readLines(through limit: UInt64) throws(LogError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.chunkBytes * 5 / 4)
        try cursor.read(through: limit, maxBytes: Self.chunkBytes) { view, payload in
            if let filter, !UnsafeRawBufferPointer(rebasing: payload[view.poll]).elementsEqual(filter) { return }
            // The cursor checked the payload as `decode` does: a creation's decode cannot fail here.
            try? EventText.appendLine(payload: payload, view: view, to: &bytes)
        }
        return bytes
    }

    /// Record bytes read from the log per `readLines`.
    static let chunkBytes = 64 * 1024

    /// The seq to resume from when the client stopped reading: the first `EVENT` line it has not
    /// received whole in `unsent` (which starts right after the last byte it accepted, and may
    /// start in the middle of a line that began in `sentTail`), or `next` if there is none.
    static func resumeSeq(sentTail: ArraySlice<UInt8>, unsent: ArraySlice<UInt8>, next: UInt64) -> UInt64 {
        // The line in progress began after the last newline already sent.
        var lineStart: [UInt8] = []
        if let lastNewline = sentTail.lastIndex(of: UInt8(ascii: "\n")) {
            lineStart = Array(sentTail[(lastNewline + 1)...])
        } else {
            lineStart = Array(sentTail)
        }
        var current = lineStart
        for byte in unsent {
            if byte == UInt8(ascii: "\n") {
                if let seq = eventSeq(current) { return seq }
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        return eventSeq(current) ?? next
    }

    private static func eventSeq(_ line: [UInt8]) -> UInt64? {
        let prefix = Array("EVENT ".utf8)
        guard line.count > prefix.count, Array(line.prefix(prefix.count)) == prefix else { return nil }
        let digits = line.dropFirst(prefix.count).prefix { $0 >= 0x30 && $0 <= 0x39 }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }
}
