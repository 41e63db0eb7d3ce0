/// Reads a process's memory high-water mark from /proc, so the server's peak is known without its help.
public enum ProcessMemory {
    /// VmHWM of /proc/<pid>/status in bytes: the peak resident set size over the process's life.
    public static func peakResidentBytes(pid: Int) -> Int? {
        guard let text = TextFile.read("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
