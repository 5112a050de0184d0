import Glibc

/// A whole file mapped read-only into memory; tensors borrowing its pages keep it alive.
final class MappedFile: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
    let count: Int
    /// Kept open for `adviseSparseReads`.
    private let fd: Int32

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.io(file: path, what: "cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw RuntimeError.io(file: path, what: "cannot stat: \(String(cString: strerror(e)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw RuntimeError.io(file: path, what: "not a regular file") }
        self.fd = fd
        count = Int(st.st_size)
        if count == 0 { pointer = nil; return }
        // Private and writable: an accidental write to a borrowed weight copies the page instead of
        // faulting, and never reaches the file.
        let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            let e = errno
            close(fd)
            throw RuntimeError.io(file: path, what: "cannot map: \(String(cString: strerror(e)))")
        }
        pointer = p
    }

    /// For a range read a few scattered pages at a time (a lookup table): drops the range from
    /// resident memory and from the page cache, and turns off read-ahead there, so each later
    /// read maps one small page. Without this the kernel maps a whole large page-cache folio
    /// (up to 2 MB, as the checksum's sequential read left them) for every row looked up: on
    /// Linux 6.18, 36 scattered rows of CLIP's token table made 65 MB resident.
    func adviseSparseReads(offset: Int, count n: Int) {
        guard let pointer, n > 0, offset >= 0, offset <= count - n else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (offset + page - 1) / page * page, hi = (offset + n) / page * page
        guard hi > lo else { return }
        _ = madvise(pointer + lo, hi - lo, Int32(MADV_DONTNEED))
        _ = posix_fadvise(fd, off_t(lo), off_t(hi - lo), Int32(POSIX_FADV_DONTNEED))
        _ = madvise(pointer + lo, hi - lo, Int32(MADV_RANDOM))
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
        close(fd)
    }
}
