import PollTallyCore
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Writing to stdout and stderr with write(2): unbuffered for messages, buffered for bulk output.
enum Output {
    static func out(_ text: String) { write(1, text + "\n") }
    static func err(_ text: String) { write(2, text + "\n") }

    static func write(_ fd: CInt, _ text: String) {
        var text = text
        text.withUTF8 { raw in writeAll(fd, UnsafeRawBufferPointer(raw)) }
    }

    static func writeAll(_ fd: CInt, _ raw: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// The contents of a small text file (up to 64 KiB), or nil if it cannot be read.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: bytes[0..<n], as: UTF8.self)
    }

    /// Whether `fd` is a terminal.
    static func isTerminal(_ fd: CInt) -> Bool { isatty(fd) == 1 }
}

/// Buffered line output for commands that print many lines (`dump`, `replay`).
struct LineWriter {
    private var buffer: [UInt8] = []
    private let fd: CInt

    init(fd: CInt = 1) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    mutating func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes the `EVENT` line of the event whose payload is `payload`; throws what reading it
    /// throws, writing nothing.
    mutating func event(_ payload: UnsafeRawBufferPointer) throws(EventCodec.DecodeError) {
        try EventText.appendLine(payload: payload, view: try EventView(payload), to: &buffer)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        buffer.withUnsafeBytes { Output.writeAll(fd, $0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
