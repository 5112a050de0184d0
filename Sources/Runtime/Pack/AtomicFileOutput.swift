import Glibc

/// A file written under a temporary name next to its destination and renamed over it only by
/// `commit()` after fsync; `abandon()` removes the temporary, so a failed write leaves no trace
/// and never damages an existing file at the destination.
final class AtomicFileOutput {
    let destination: String
    let temporaryPath: String
    private var fd: Int32
    private(set) var position = 0

    init(destination: String) throws {
        self.destination = destination
        let (folder, name) = AtomicFileOutput.split(destination)
        // The random part only names the temporary file; it never reaches the pack's bytes.
        AtomicFileOutput.removeStaleTemporaries(of: destination)
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        temporaryPath = folder + "/.\(name).\(getpid()).\(tag).tmp"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RuntimeError.io(file: destination, what: "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))")
        }
    }

    /// The folder holding `path` ("." for a bare name) and its last component.
    static func split(_ path: String) -> (folder: String, name: String) {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return (".", String(p)) }
        let folder = p[..<slash]
        return (folder.isEmpty ? "/" : String(folder), String(p[p.index(after: slash)...]))
    }

    /// The names in `folder` (nil if it cannot be read).
    static func entries(of folder: String) -> [String]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        // The name is read in place up to its NUL: a dirent record is only as long as its name,
        // so copying the struct (e.pointee) would read past the end of readdir's buffer.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let e = readdir(dir) {
            let name = String(cString: (UnsafeRawPointer(e) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file. Such
    /// files carry the writer's pid: those of processes that no longer exist are removed here,
    /// those of live processes (perhaps writing the same destination right now) are left alone.
    static func removeStaleTemporaries(of destination: String) {
        let (folder, name) = split(destination)
        let prefix = ".\(name)."
        guard let names = entries(of: folder) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let parts = name.dropFirst(prefix.count).split(separator: ".")
            guard parts.count == 3, let pid = Int32(parts[0]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(folder + "/" + name)
            }
        }
    }

    private func fail(_ what: String) -> RuntimeError {
        RuntimeError.io(file: destination, what: "\(what): \(String(cString: strerror(errno)))")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write failed")
            }
            done += n
        }
        position += bytes.count
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes at an absolute offset without moving `position` (the header, written last).
    func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = pwrite(fd, b.baseAddress! + done, b.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("write failed")
                }
                done += n
            }
        }
    }

    func pad(toMultipleOf m: Int) throws {
        let r = position % m
        if r != 0 { try write([UInt8](repeating: 0, count: m - r)) }
    }

    func commit() throws {
        guard fsync(fd) == 0 else { throw fail("fsync failed") }
        guard close(fd) == 0 else { fd = -1; throw fail("close failed") }
        fd = -1
        guard rename(temporaryPath, destination) == 0 else { throw fail("cannot rename the temporary file into place") }
        // Make the rename itself durable.
        let dir = open(AtomicFileOutput.split(destination).folder, O_RDONLY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
    }

    deinit {
        if fd >= 0 { close(fd); unlink(temporaryPath) }
    }
}
