#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Folder-level syscalls: creating, listing, renaming, syncing.
public enum FileSystem {
    /// Creates `path` (and its parents) with `permissions` if missing. The corresponding C function is `mkdir`.
    public static func createDirectory(_ path: String, permissions: UInt32 = 0o700) throws(Errno) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode_t(permissions)) != 0, errno != EEXIST { throw Errno.current }
            prefix += "/"
        }
    }

    /// The names in a folder, without `.` and `..`. The corresponding C functions are `opendir`/`readdir`.
    public static func contents(of path: String) throws(Errno) -> [String] {
        guard let dir = opendir(path) else { throw Errno.current }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// fsyncs a folder, so a file created or renamed in it survives a crash.
    public static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try FileDescriptor.open(path, [.readOnly, .directory])
        defer { fd.close() }
        try fd.sync()
    }

    /// The corresponding C function is `rename`.
    public static func rename(_ from: String, to: String) throws(Errno) {
        guard Glibc.rename(from, to) == 0 else { throw Errno.current }
    }

    /// The corresponding C function is `unlink`.
    public static func remove(_ path: String) throws(Errno) {
        guard unlink(path) == 0 else { throw Errno.current }
    }
}
