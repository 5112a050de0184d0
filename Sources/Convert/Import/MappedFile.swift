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

    /// Drops the resident pages lying wholly inside `range` (bytes already hashed or copied), so
    /// they stop counting as this process's memory; a later read faults them back in from the
    /// file. Only for pages nothing has written: a private mapping would lose the writes.
    func release(_ range: Range<Int>) {
        guard let base, range.lowerBound >= 0, range.upperBound <= byteCount else { return }
        let page = Int(getpagesize())
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
    }

    /// The whole file; valid while `self` lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }
}
