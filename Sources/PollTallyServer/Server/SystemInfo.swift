#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Facts about the machine and process, read from the OS.
public enum SystemInfo {
    /// Online processor count.
    public static var activeCores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Raises the soft open-file limit towards `wanted` (up to the hard limit); returns the limit
    /// before and after. The corresponding C functions are `getrlimit` and `setrlimit`.
    public static func raiseOpenFileLimit(to wanted: Int) -> (before: Int, after: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = Int(limit.rlim_cur)
        guard before < wanted else { return (before, before) }
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, Int(limit.rlim_cur))
    }

    /// Resident set size of this process in bytes, from /proc/self/statm.
    public static var residentBytes: Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var size = 0, resident = 0
        guard fscanf_statm(file, &size, &resident) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func fscanf_statm(_ file: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, 128, file) != nil else { return false }
        let fields = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
        size = s
        resident = r
        return true
    }
}
