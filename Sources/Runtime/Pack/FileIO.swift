import Glibc

/// Whole-file reads and atomic writes over the C library, for the device build (no Foundation).
public enum FileIO {
    /// A failed system call: its errno, with the C library's text for it.
    public struct SystemError: Error, CustomStringConvertible {
        public var code: Int32
        public var description: String { String(cString: strerror(code)) }
    }

    /// The bytes of the regular file at `path`, or nil when it cannot be opened or read (as
    /// FileManager's contents(atPath:)).
    public static func contents(atPath path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 0 else { return nil }
        // The size is a hint only: read until end of file, growing as needed.
        var out = [UInt8](repeating: 0, count: max(Int(st.st_size), 0) + 1)
        var n = 0
        while true {
            if n == out.count { out.append(contentsOf: repeatElement(0, count: max(out.count, 4096))) }
            let got = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + n, $0.count - n) }
            if got < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if got == 0 { break }
            n += got
        }
        out.removeSubrange(n...)
        return out
    }

    /// Writes `bytes` to `path` through a temporary file in the same folder, fsync and a rename,
    /// so a reader never sees half a file. Throws `SystemError` with the failing call's errno.
    public static func write(_ bytes: [UInt8], toPath path: String) throws {
        let output: AtomicFileOutput
        do { output = try AtomicFileOutput(destination: path) } catch { throw SystemError(code: errno) }
        do {
            try output.write(bytes)
            try output.commit()
        } catch {
            let code = errno
            output.abandon()
            throw SystemError(code: code)
        }
    }

    /// Whether `path` exists, and whether it is a folder.
    public static func exists(_ path: String) -> (exists: Bool, isFolder: Bool) {
        var st = stat()
        guard stat(path, &st) == 0 else { return (false, false) }
        return (true, (st.st_mode & S_IFMT) == S_IFDIR)
    }

    /// The names in folder `path` (without "." and ".."), unsorted; nil if it cannot be read.
    public static func folderEntries(_ path: String) -> [String]? {
        AtomicFileOutput.entries(of: path)
    }

    /// Creates folder `path` and any missing parents (as mkdir -p).
    public static func createFolder(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw SystemError(code: errno) }
            guard exists(prefix).isFolder else { throw SystemError(code: ENOTDIR) }
            prefix += "/"
        }
    }
}
