/// What a watching connection shares with the `WatchHub`'s timer, under the connection's
/// `Mutex`: which polls it watches, the seq of the newest tally it was given per poll, and
/// whether the hub may write an `UPDATE` straight to the socket.
///
/// The gate is *open* only while the connection owes the client nothing: every request read
/// is answered and every byte of output is sent. Then the hub, holding the lock, sends the line
/// itself with one non-blocking `send` — no hop onto the connection's queue, no allocation per
/// watcher. The connection closes the gate (under the lock, so after any direct send finished)
/// before it queues or writes anything, and opens it again only once it is drained; so a direct
/// line never lands inside a reply, nor while a request waits for its reply.
///
/// While the gate is closed, updates wait in `pending` (the newest line per poll, no queue) for
/// the connection to write between replies. A direct send the socket does not take in full is
/// left in `carry`; the connection must finish it before writing anything else.
struct PushGate {
    private(set) var open = false
    private(set) var closed = false
    private(set) var watching: Set<String> = []
    private(set) var everyPoll = false
    /// The seq of the newest tally given (or queued) to the client, per watched poll.
    private var sentSeq: [String: UInt64] = [:]
    /// Newest update per watched poll that the connection has yet to write.
    private var pending: [String: WatchUpdate] = [:]
    /// A direct send the socket did not take in full: the bytes and how many of them it took.
    private var carry: (bytes: [UInt8], sent: Int)?
    /// A wake-up of the connection's queue is already on its way.
    private var wakeQueued = false

    /// What the hub should do after offering updates.
    enum OfferOutcome {
        /// Nothing new for this client, or the socket took it all.
        case done
        /// Lines to write now, straight to the socket (the gate stays locked meanwhile).
        case send([UInt8])
        /// Lines kept for the connection: wake its queue (only the first time until it runs).
        case wake
    }

    var isWatching: Bool { everyPoll || !watching.isEmpty }

    // MARK: - The hub's side

    /// Keeps the updates this client watches and has not been given yet, newest only.
    mutating func offer(_ updates: [WatchUpdate]) -> OfferOutcome {
        guard !closed else { return .done }
        var direct: [UInt8]?
        for update in updates where everyPoll || watching.contains(update.poll) {
            // Never older than, nor a repeat of, what this client was already given.
            guard update.seq > (sentSeq[update.poll] ?? 0) else { continue }
            sentSeq[update.poll] = update.seq
            if !open {
                pending[update.poll] = update
            } else if direct == nil {
                direct = update.line
            } else {
                direct?.append(contentsOf: update.line)
            }
        }
        if let direct { return .send(direct) }
        return !open && !pending.isEmpty ? wakeOnce() : .done
    }

    /// After `.send`: the socket took `sent` of `bytes` (fewer than all, or it failed: 0). The
    /// connection takes the rest over, so its queue must be woken.
    mutating func sendFellShort(_ bytes: [UInt8], sent: Int) -> OfferOutcome {
        open = false
        carry = (bytes, sent)
        return wakeOnce()
    }

    private mutating func wakeOnce() -> OfferOutcome {
        guard !wakeQueued else { return .done }
        wakeQueued = true
        return .wake
    }

    // MARK: - The connection's side

    /// The wake-up is running: later offers may queue another.
    mutating func wokeUp() { wakeQueued = false }

    /// Closes the gate; returns an unfinished direct send, which must go out first.
    mutating func hold() -> (bytes: [UInt8], sent: Int)? {
        open = false
        defer { carry = nil }
        return carry
    }

    /// Takes what waits for the connection: an unfinished direct send and the pending lines.
    /// Opens the gate instead when nothing waits and `drained` (nothing owed to the client) holds.
    mutating func takeOrOpen(drained: Bool) -> (carry: (bytes: [UInt8], sent: Int)?, lines: [WatchUpdate]) {
        if carry == nil && pending.isEmpty {
            open = drained && isWatching && !closed
            return (nil, [])
        }
        open = false
        defer { carry = nil; pending.removeAll(keepingCapacity: true) }
        return (carry, Array(pending.values))
    }

    /// Subscribes to `polls` before their tallies are read, so no change in between is missed.
    mutating func watch(_ polls: [String]) {
        watching.formUnion(polls)
    }

    mutating func watchEveryPoll() {
        everyPoll = true
    }

    /// Records that the client was just given these tallies (in a `WATCH` reply). A pending
    /// update no newer is dropped; a newer one (it changed since the read) stays and follows.
    mutating func gave(_ tallies: [(poll: String, seq: UInt64)]) {
        for tally in tallies {
            if let waiting = pending[tally.poll], waiting.seq <= tally.seq { pending[tally.poll] = nil }
            sentSeq[tally.poll] = max(sentSeq[tally.poll] ?? 0, tally.seq)
        }
    }

    /// Stops watching `polls`, or everything (and `*`) when nil; what was held for them is dropped.
    mutating func unwatch(_ polls: [String]?) {
        guard let polls else {
            watching.removeAll()
            everyPoll = false
            pending.removeAll()
            sentSeq.removeAll()
            return
        }
        watching.subtract(polls)
        // Under `WATCH *` the polls are still watched: keep their state.
        if !everyPoll { for poll in polls { pending[poll] = nil; sentSeq[poll] = nil } }
    }

    /// The connection closed: no more sends, nothing kept.
    mutating func close() {
        closed = true
        open = false
        carry = nil
        unwatch(nil)
    }
}
