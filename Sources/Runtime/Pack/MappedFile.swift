import Glibc

/// A whole file mapped read-only into memory; tensors borrowing its pages keep it alive.
final class MappedFile: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
    let count: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.io(file: path, what: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RuntimeError.io(file: path, what: "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw RuntimeError.io(file: path, what: "not a regular file") }
        count = Int(st.st_size)
        if count == 0 { pointer = nil; return }
        // Private and writable: an accidental write to a borrowed weight copies the page instead of
        // faulting, and never reaches the file.
        let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw RuntimeError.io(file: path, what: "cannot map: \(String(cString: strerror(errno)))")
        }
        pointer = p
    }

    /// Tells the kernel the whole pages inside [offset, offset + count) are no longer needed; they
    /// are read again from the file if touched (the mapping is private and never written there).
    /// Returns the bytes released.
    @discardableResult
    func release(offset: Int, count n: Int) -> Int {
        guard let pointer, n > 0, offset >= 0, offset <= count - n else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (offset + page - 1) / page * page, hi = (offset + n) / page * page
        guard hi > lo, madvise(pointer + lo, hi - lo, Int32(MADV_DONTNEED)) == 0 else { return 0 }
        return hi - lo
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    deinit {
        if let pointer { munmap(pointer, count) }
    }
}
