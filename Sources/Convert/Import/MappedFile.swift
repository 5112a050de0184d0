import Foundation

/// A private (copy-on-write) memory mapping of a whole file. External weights are used
/// straight from the mapping, so importing a large model costs page cache rather than a heap
/// copy; a later in-place edit of such a tensor copies only the pages it writes, never the file.
final class MappedFile: @unchecked Sendable {
    let url: URL
    let byteCount: Int
    private let base: UnsafeMutableRawPointer?

    init(_ url: URL) throws {
        self.url = url
        let name = url.lastPathComponent
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConvertError.io(file: name, what: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ConvertError.io(file: name, what: "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ConvertError.io(file: name, what: "not a regular file") }
        byteCount = Int(st.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let p = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ConvertError.io(file: name, what: "cannot map \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        // Weights are read front to back once; tell the kernel so it reads ahead.
        _ = madvise(p, byteCount, MADV_SEQUENTIAL)
        base = p
    }

    deinit {
        if let base { munmap(base, byteCount) }
    }

    /// The whole file; valid while `self` lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }
}
