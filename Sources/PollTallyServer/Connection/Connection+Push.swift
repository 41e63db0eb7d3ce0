import Synchronization

/// Pushed `UPDATE` lines. An idle watcher (nothing owed to the client) is written to straight
/// from the hub's queue under `pushGate`, without a hop onto this connection's queue; a busy one
/// keeps the newest line per poll for `flush` to write between replies. See `PushGate`.
extension Connection {
    func offer(_ updates: [WatchUpdate]) {
        let wake = pushGate.withLock { gate -> Bool in
            switch gate.offer(updates) {
            case .done:
                return false
            case .wake:
                return true
            case .send(let bytes):
                // Still under the lock: the connection cannot close the gate and write meanwhile.
                let sent = sendNow(bytes)
                guard sent < bytes.count, case .wake = gate.sendFellShort(bytes, sent: sent) else { return false }
                return true
            }
        }
        guard wake else { return }
        queue.async { [self] in
            pushGate.withLock { $0.wokeUp() }
            guard !closed else { return }
            flush()
        }
    }

    /// Whether the client watches any poll (or `*`).
    var isWatching: Bool { pushGate.withLock { $0.isWatching } }

    /// Closes the gate before this connection queues or writes anything of its own, and takes
    /// over a direct send the socket did not finish, which must go out first. Free when the gate
    /// was not opened since the last call.
    func holdPushes() {
        guard pushesMayBeOpen else { return }
        let carry = pushGate.withLock { $0.hold() }
        tookSocketBack()
        if let carry { takeOver(carry) }
    }

    /// Moves the updates waiting for this connection into its output (the caller then writes).
    func appendPendingUpdates() {
        let taken = pushGate.withLock { $0.takeOrOpen(drained: false) }
        tookSocketBack()
        if let carry = taken.carry { takeOver(carry) }
        for update in taken.lines { appendBytes(update.line) }
    }

    /// Once everything owed to the client is sent, lets the hub write to it directly again;
    /// first writes what waited, for as long as the socket takes it all.
    func reopenPushes() {
        while !closed && !quitting && slots.isEmpty && unsentBytes == 0 {
            let (taken, opened) = pushGate.withLock { gate in (gate.takeOrOpen(drained: true), gate.open) }
            guard taken.carry != nil || !taken.lines.isEmpty else {
                pushesMayBeOpen = opened
                return
            }
            tookSocketBack()
            if let carry = taken.carry { takeOver(carry) }
            for update in taken.lines { appendBytes(update.line) }
            writeOutput()
        }
    }

    /// The gate is closed now. If it was open, the output was drained all the while: the stall
    /// clock starts here, not at the connection's last send before the hub's direct writes.
    private func tookSocketBack() {
        guard pushesMayBeOpen else { return }
        pushesMayBeOpen = false
        lastSendProgress = Connection.now()
    }

    /// A direct send cut short becomes the head of the output, with its sent part counted as
    /// sent, so that the rest follows first and a last word can still complete the line.
    private func takeOver(_ carry: (bytes: [UInt8], sent: Int)) {
        replaceDrainedOutput(with: carry.bytes, sent: carry.sent)
    }
}
