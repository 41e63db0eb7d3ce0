import Dispatch
import PollTallyLog

/// A one-line progress report on stderr while a command reads the whole log (`verify`, `replay`):
/// events so far, MB read of the total, MB/s and the time left. Only when stderr is a terminal;
/// otherwise (a pipe, a file, a test) it prints nothing at all.
struct ScanProgress {
    private let label: String
    private let enabled: Bool
    private let totalBytes: Int64
    /// Bytes of the segments before each segment, by path.
    private var bytesBefore: [String: Int64] = [:]
    private var events = 0
    private var bytes: Int64 = 0
    private let started = DispatchTime.now().uptimeNanoseconds
    private var lastPrinted: UInt64 = 0
    private var printed = false

    /// Sizes up the segments of `directory` when stderr is a terminal.
    init(_ label: String, directory: LogDirectory) {
        self.label = label
        enabled = Output.isTerminal(2)
        var total: Int64 = 0
        if enabled, let segments = try? directory.segments() {
            for segment in segments {
                bytesBefore[segment.path] = total
                total += Self.size(of: segment.path)
            }
        }
        totalBytes = total
    }

    private static func size(of path: String) -> Int64 {
        guard let fd = try? FileDescriptor.open(path, .readOnly) else { return 0 }
        defer { fd.close() }
        return (try? fd.size()) ?? 0
    }

    /// Notes that `count` events have been read so far, the last at `location`.
    mutating func events(_ count: Int, at location: LogScanner.Location) {
        guard enabled else { return }
        events = count
        redraw(at: location)
    }

    private mutating func redraw(at location: LogScanner.Location) {
        bytes = (bytesBefore[location.path] ?? 0) + location.offset
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastPrinted >= 250_000_000 else { return }
        lastPrinted = now
        draw(now: now)
    }

    private mutating func draw(now: UInt64) {
        let seconds = Double(now - started) / 1e9
        let rate = seconds > 0 ? Double(bytes) / seconds : 0
        let left = rate > 0 ? Double(max(0, totalBytes - bytes)) / rate : 0
        let line = "\(label): \(events) events, \(Self.megabytes(bytes)) of \(Self.megabytes(totalBytes)) MB, "
            + "\(Self.megabytes(Int64(rate))) MB/s, ETA \(Int(left.rounded(.up))) s"
        Output.write(2, "\r\u{1B}[K" + line)
        printed = true
    }

    /// Clears the line (before the command prints its result).
    func finish() {
        if printed { Output.write(2, "\r\u{1B}[K") }
    }

    private static func megabytes(_ bytes: Int64) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10)"
    }
}
