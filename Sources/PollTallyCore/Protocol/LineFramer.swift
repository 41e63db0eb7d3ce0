/// Splits a byte stream into request lines: pure, fed whatever each `read` returned.
///
/// A line ends at `\n`; one `\r` before it is dropped. A line longer than `maxLine` bytes is
/// reported once as `.tooLong` and the rest of it is discarded as it arrives, never buffered, so a
/// client pasting a megabyte costs at most `maxLine` bytes of memory.
public struct LineFramer: Sendable {
    /// One framed line (valid only during the `emit` call), or the report of an over-long one.
    public enum Framed {
        case line(UnsafeRawBufferPointer)
        case tooLong
    }

    /// A framed line as an owned value, for tests and tools.
    public enum Item: Equatable, Sendable {
        case line([UInt8])
        case tooLong
    }

    public let maxLine: Int
    private var partial: [UInt8] = []
    private var discarding = false

    public init(maxLine: Int = 4096) {
        self.maxLine = maxLine
    }

    /// Whether bytes of an unfinished line are held.
    public var hasPartialLine: Bool { !partial.isEmpty || discarding }

    /// Feeds the next chunk of the stream; `emit` receives each complete line (without `\r\n`),
    /// in order, without copying lines that arrive whole.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, emit: (Framed) -> Void) {
        _ = feed(chunk, emitUntilFalse: { emit($0); return true })
    }

    /// Like `feed(_:emit:)`, but stops right after a line for which `emit` returns false.
    /// Returns how many bytes of `chunk` were consumed; the caller feeds the rest later.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, emitUntilFalse emit: (Framed) -> Bool) -> Int {
        var start = 0
        let count = chunk.count
        while start < count {
            guard let newline = Self.firstNewline(chunk, from: start) else {
                absorbPartial(UnsafeRawBufferPointer(rebasing: chunk[start..<count])) { _ = emit($0) }
                return count
            }
            var goOn = true
            if discarding {
                discarding = false
            } else if partial.isEmpty {
                goOn = emitLine(UnsafeRawBufferPointer(rebasing: chunk[start..<newline]), emit: emit)
            } else {
                partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
                goOn = partial.withUnsafeBytes { emitLine($0, emit: emit) }
                partial.removeAll(keepingCapacity: partial.capacity <= 2 * maxLine)
            }
            start = newline + 1
            if !goOn { return start }
        }
        return count
    }

    /// At end of stream: emits a final line that had no `\n`, if any.
    public mutating func finish(emit: (Framed) -> Void) {
        defer { partial.removeAll(); discarding = false }
        guard !discarding, !partial.isEmpty else { return }
        _ = partial.withUnsafeBytes { emitLine($0) { emit($0); return true } }
    }

    /// Feeds `bytes` and returns the items: the same framing as `feed(_:emit:)`, as owned values.
    public mutating func feed(_ bytes: [UInt8]) -> [Item] {
        var items: [Item] = []
        bytes.withUnsafeBytes { raw in
            feed(raw) { framed in
                switch framed {
                case .line(let line): items.append(.line(Array(line)))
                case .tooLong: items.append(.tooLong)
                }
            }
        }
        return items
    }

    private mutating func absorbPartial(_ bytes: UnsafeRawBufferPointer, emit: (Framed) -> Void) {
        guard !discarding else { return }
        // One byte of slack for a `\r` that may precede the coming `\n`.
        if partial.count + bytes.count > maxLine + 1 {
            partial.removeAll(keepingCapacity: false)
            discarding = true
            emit(.tooLong)
        } else {
            partial.append(contentsOf: bytes)
        }
    }

    private func emitLine(_ line: UnsafeRawBufferPointer, emit: (Framed) -> Bool) -> Bool {
        var line = line
        if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        return line.count > maxLine ? emit(.tooLong) : emit(.line(line))
    }

    private static func firstNewline(_ chunk: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i < chunk.count {
            if chunk[i] == UInt8(ascii: "\n") { return i }
            i += 1
        }
        return nil
    }
}
