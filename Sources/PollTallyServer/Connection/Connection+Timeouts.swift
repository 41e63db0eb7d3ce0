import PollTallyCore

/// The two timeouts: a client that accepts no bytes at all for `stallTimeout` while replies wait
/// (a stalled consumer), and one that sends nothing for `idleTimeout` while it neither watches
/// nor tails (an idle connection). Checked once a second by the `ConnectionSweeper`.
extension Connection {
    func sweep(now: UInt64) {
        queue.async { [self] in
            guard !closed else { return }
            let stall = UInt64(context.config.stallTimeout.components.seconds) * 1_000_000_000
            let idle = UInt64(context.config.idleTimeout.components.seconds) * 1_000_000_000
            if unsentBytes > 0, now > lastSendProgress, now - lastSendProgress >= stall {
                context.stats.slowConsumers.add(1, ordering: .relaxed)
                closeWithLastWord(slowConsumerLine())
            } else if slots.isEmpty, unsentBytes == 0, tail == nil, !isWatching,
                      now > lastRead, now - lastRead >= idle {
                closeWithLastWord(ProtocolError(.idleTimeout, "no request for \(context.config.idleTimeout.components.seconds) s; closing").line)
            }
        }
    }

    private func slowConsumerLine() -> String {
        let seconds = context.config.stallTimeout.components.seconds
        guard let stream = tail else {
            return ProtocolError(.slowConsumer, "no bytes accepted for \(seconds) s; closing").line
        }
        // closeWithLastWord completes a partly sent line before the error, so the client will have
        // that line whole: resume after it.
        var sentEnd = outputSent
        if outputSent > 0, output[outputSent - 1] != UInt8(ascii: "\n"),
           let end = output[outputSent...].firstIndex(of: UInt8(ascii: "\n")) {
            sentEnd = end + 1
        }
        let sentTail = output[max(0, sentEnd - 512)..<sentEnd]
        let resume = TailStream.resumeSeq(sentTail: sentTail, unsent: output[sentEnd...], next: stream.cursor.nextSeq)
        return ProtocolError(.slowConsumer, "resume with TAIL FROM \(resume)\(stream.poll.map { " POLL \($0)" } ?? "")").line
    }
}
