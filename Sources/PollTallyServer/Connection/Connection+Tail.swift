import PollTallyCore
import PollTallyLog

/// `TAIL`: the connection reads events from the log itself, a bounded chunk at a time, on the
/// tail queue, and only while the client keeps up. The log is the buffer: a client that falls
/// behind costs no memory beyond one chunk and `TailStream.lowWater` of unsent lines, and
/// catches up from disk when it reads again.
extension Connection {
    func startTail(from: UInt64?, poll: String?) -> String {
        guard tail == nil else {
            return ProtocolError(.badRequest, "this connection is already tailing; open another").line
        }
        let durable = context.log.counters.durableSeq
        let start = max(1, from ?? durable + 1)
        let stream = TailStream(cursor: LogCursor(directory: LogDirectory(path: context.config.dataPath), fromSeq: start), poll: poll)
        tail = stream
        context.tails.add(self)
        tailSubscribed = true
        var reply = "OK tailing from \(start)"
        if start > durable {
            stream.live = true
            reply += "\nLIVE \(durable)"
        }
        return reply
    }

    func logMoved() {
        guard !tailWakeQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            tailWakeQueued.store(false, ordering: .releasing)
            pumpTail()
        }
    }

    /// Reads the next chunk if the client has room for it and the log has more.
    func pumpTail() {
        guard let stream = tail, !closed, !stream.reading else { return }
        // Every drain of the output ends in `flush`, which calls here (and the one write below
        // looks again), so a stalled tail is back in the hub as soon as its client reads. It
        // rejoins before it reads the head: a head move the hub announced without it is then seen
        // here (the hub's lock orders them).
        let stalled = unsentBytes >= TailStream.lowWater
        if stalled == tailSubscribed {
            if stalled { context.tails.park(self) } else { context.tails.add(self) }
            tailSubscribed = !stalled
        }
        let durable = context.log.counters.durableSeq
        let next = stream.cursor.nextSeq
        if next > durable {
            if !stream.live {
                stream.live = true
                appendLine("LIVE \(durable)")
                writeOutput()
                // That write may have drained a stalled tail's output, with no `flush` after it.
                if !tailSubscribed && unsentBytes < TailStream.lowWater { pumpTail() }
            }
            return
        }
        if durable - next >= TailStream.liveWindow { stream.live = false }
        guard unsentBytes < TailStream.lowWater else {
            stream.live = false
            return
        }
        stream.reading = true
        context.tailQueue.async { [self] in
            let result: Result<[UInt8], LogError>
            do throws(LogError) {
                result = .success(try stream.readLines(through: durable))
            } catch {
                result = .failure(error)
            }
            queue.async { [self] in
                stream.reading = false
                guard tail === stream, !closed else { return }
                switch result {
                case .success(let lines):
                    appendBytes(lines)
                    flush()
                case .failure(let error):
                    // The log cannot be read here: say why and close, as for a slow consumer.
                    closeWithLastWord(ProtocolError(.unavailable, "TAIL stopped at seq \(stream.cursor.nextSeq): \(error)").line)
                }
            }
        }
    }
}
