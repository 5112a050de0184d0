import CZstd
import Glibc

/// A tensor's bytes as they go into the file.
struct EncodedBlob: Sendable {
    var codec: PackCodec
    /// The compressed frame; nil for raw blobs, which are written straight from the tensor.
    var compressed: [UInt8]?
    var storedSize: Int
    var checksum: UInt64
}

/// Memory from `allocate` that a borrowing TensorStorage keeps alive; skips the zero fill of
/// TensorStorage(byteCount:), which matters for gigabyte-sized weights about to be overwritten.
final class AlignedAllocation: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(byteCount: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: TensorStorage.alignment)
    }
    deinit { pointer.deallocate() }
}

/// Per-blob codec choice, compression and decompression.
enum BlobCodec {
    /// Blobs from this size on are compressed with zstd's multithreaded mode.
    static let multithreadedBytes = 16 << 20

    /// Float data is split into byte planes: exponent bytes compress, mantissa bytes mostly do
    /// not, and zstd spends most of its time failing on them (the planes codec stores those raw).
    /// Small tensors keep one shuffled frame: there speed does not matter and a frame per plane
    /// costs more than it saves.
    static func preferredCodec(for dtype: DType, byteCount: Int) -> PackCodec {
        guard dtype.isFloat && dtype.byteSize > 1 else { return .zstd }
        return byteCount >= planesFromBytes ? .planes : .shuffleZstd
    }

    /// Float tensors from this size on use the planes codec.
    static let planesFromBytes = 256 << 10

    /// A byte plane is compressed only if it saves at least this fraction.
    static let planeMinimumGain = 0.03
    /// Planes larger than this are first judged on a sample of `planeSampleChunks` spread chunks.
    static let planeSampleBytes = 64 << 10
    static let planeSampleChunks = 4

    /// The tensor's bytes as they are.
    static func rawBlob(_ tensor: Tensor) -> EncodedBlob {
        let raw = UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.byteCount)
        return EncodedBlob(codec: .raw, compressed: nil, storedSize: raw.count, checksum: PackChecksum.xxh64(raw))
    }

    static func encode(_ tensor: Tensor, options: PackWriteOptions) throws -> EncodedBlob {
        let raw = UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.byteCount)
        let rawBlob = rawBlob(tensor)
        if raw.count < options.rawBelowBytes || raw.count == 0 { return rawBlob }

        let codec = preferredCodec(for: tensor.dtype, byteCount: raw.count)
        if codec == .planes { return try encodePlanes(tensor, raw: raw, options: options) ?? rawBlob }
        // Compression must save at least `minimumGain`; a smaller output buffer lets zstd give up early.
        let minimumGain = tensor.dtype.byteSize == 1 ? max(options.minimumGain, options.byteTensorMinimumGain) : options.minimumGain
        let gain = Int((Double(raw.count) * minimumGain).rounded(.up))
        let capacity = raw.count - max(gain, 1)
        guard capacity > 0 else { return rawBlob }
        var out = [UInt8](repeating: 0, count: capacity)

        var shuffled: AlignedAllocation?
        var source = raw
        if codec == .shuffleZstd {
            let s = AlignedAllocation(byteCount: raw.count)
            lseg_byte_shuffle(raw.baseAddress, s.pointer, tensor.count, tensor.dtype.byteSize)
            source = UnsafeRawBufferPointer(start: s.pointer, count: raw.count)
            shuffled = s
        }
        // Large blobs use zstd's own threads (a batch may hold just one of them). The choice depends
        // on the size only, and zstd's multithreaded output does not depend on the worker count,
        // so the bytes stay the same whatever `options.threads` is.
        let workers = raw.count >= multithreadedBytes ? Int32(max(1, options.threads)) : 0
        let size = out.withUnsafeMutableBytes {
            lseg_zstd_compress($0.baseAddress, capacity, source.baseAddress, source.count, options.level, workers)
        }
        withExtendedLifetime(shuffled) {}
        if ZSTD_isError(size) != 0 {
            if ZSTD_getErrorCode(size) == ZSTD_error_dstSize_tooSmall { return rawBlob }
            throw RuntimeError.unsupported("zstd compression failed: \(String(cString: ZSTD_getErrorName(size)))")
        }
        out.removeSubrange(size...)
        return EncodedBlob(codec: codec, compressed: out, storedSize: size, checksum: PackChecksum.xxh64(out))
    }

    /// The planes codec: byte shuffle, then per plane a zstd frame when it pays, the plane's
    /// bytes otherwise; nil when the whole blob would not save `options.minimumGain`.
    static func encodePlanes(_ tensor: Tensor, raw: UnsafeRawBufferPointer, options: PackWriteOptions) throws -> EncodedBlob? {
        let width = tensor.dtype.byteSize, count = tensor.count
        let header = width * 8
        let limit = raw.count - max(Int((Double(raw.count) * options.minimumGain).rounded(.up)), 1)
        guard limit > header else { return nil }
        let workers = count >= multithreadedBytes ? Int32(max(1, options.threads)) : 0
        var failure: Error?
        // One buffer holds the shuffled planes after room for the header and is compacted in
        // place: each plane's stored form (itself, or a shorter frame) moves down to where the
        // blob needs it, never past the start of the planes not yet done. So a tensor in flight
        // costs one copy of itself, not two.
        let out = [UInt8](unsafeUninitializedCapacity: header + raw.count) { buffer, initialized in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            lseg_byte_shuffle(raw.baseAddress, base + header, count, width)
            var at = header
            for j in 0..<width {
                let plane = UnsafeRawBufferPointer(start: base + header + j * count, count: count)
                var stored = count
                if planeWorthCompressing(plane) {
                    let capacity = count - max(Int((Double(count) * planeMinimumGain).rounded(.up)), 1)
                    let frame = AlignedAllocation(byteCount: capacity)
                    let n = compressPlane(frame.pointer, capacity: capacity, plane, workers: workers)
                    if ZSTD_isError(n) == 0 {
                        stored = n
                        (base + at).copyMemory(from: frame.pointer, byteCount: n)
                    } else if ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall {
                        failure = RuntimeError.unsupported("zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))")
                        break
                    }
                }
                // Overlapping move (destination at or below the source): memmove semantics.
                if stored == count, base + at != plane.baseAddress! { memmove(base + at, plane.baseAddress!, count) }
                var le = UInt64(stored).littleEndian
                withUnsafeBytes(of: &le) { (base + j * 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
                at += stored
            }
            initialized = failure == nil ? at : 0
        }
        if let failure { throw failure }
        guard out.count <= limit else { return nil }
        return EncodedBlob(codec: .planes, compressed: out, storedSize: out.count, checksum: PackChecksum.xxh64(out))
    }

    /// Judges a plane on a few spread chunks first, so near-random mantissa planes (most of a
    /// float tensor) never go through zstd in full. Deterministic: the same bytes, the same answer.
    static func planeWorthCompressing(_ plane: UnsafeRawBufferPointer) -> Bool {
        guard plane.count > planeSampleBytes * 2 else { return true }
        let chunk = planeSampleBytes / planeSampleChunks
        var sample = [UInt8](repeating: 0, count: planeSampleBytes)
        sample.withUnsafeMutableBytes { dst in
            for c in 0..<planeSampleChunks {
                let from = (plane.count - chunk) / (planeSampleChunks - 1) * c
                (dst.baseAddress! + c * chunk).copyMemory(from: plane.baseAddress! + from, byteCount: chunk)
            }
        }
        let capacity = planeSampleBytes - Int(Double(planeSampleBytes) * planeMinimumGain)
        var scratch = [UInt8](repeating: 0, count: capacity)
        let n = sample.withUnsafeBytes { src in
            scratch.withUnsafeMutableBytes { compressPlane($0.baseAddress!, capacity: capacity, src, workers: 0) }
        }
        return ZSTD_isError(n) == 0
    }

    /// One zstd frame (content size and checksum on) tuned for byte planes: what compresses in
    /// them is the skewed distribution of byte values (exponents), not repeated strings, so a
    /// fast negative level with Huffman-coded literals forced on and long minimum matches gives
    /// a smaller frame than level 1 at about twice its speed (measured on ViT weights: 0.347 vs
    /// 0.368 of the exponent plane). Returns the frame size or a zstd error code.
    static func compressPlane(_ dst: UnsafeMutableRawPointer, capacity: Int, _ src: UnsafeRawBufferPointer, workers: Int32) -> Int {
        guard let c = ZSTD_createCCtx() else { return 0 &- Int(ZSTD_error_memory_allocation.rawValue) }
        defer { ZSTD_freeCCtx(c) }
        let settings: [(ZSTD_cParameter, Int32)] = [
            (ZSTD_c_compressionLevel, -20), (ZSTD_c_checksumFlag, 1), (ZSTD_c_contentSizeFlag, 1),
            (ZSTD_c_minMatch, 7), (ZSTD_c_experimentalParam5 /* literalCompressionMode */, 1 /* ZSTD_ps_enable */),
            (ZSTD_c_nbWorkers, workers),
        ]
        for (parameter, value) in settings where parameter != ZSTD_c_nbWorkers || value > 0 {
            let r = ZSTD_CCtx_setParameter(c, parameter, value)
            if ZSTD_isError(r) != 0 { return r }
        }
        return ZSTD_compress2(c, dst, capacity, src.baseAddress, src.count)
    }

    /// Checks that `frame` is exactly one zstd frame of `size` content bytes and decodes it into `target`.
    static func decodeFrame(_ frame: UnsafeRawBufferPointer, into target: UnsafeMutableRawPointer, size: Int,
                            what: String, fail: (String) -> RuntimeError) throws {
        let content = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN {
            throw fail("\(what): blob is not a zstd frame with a content size")
        }
        guard content == UInt64(size) else {
            throw fail("\(what): zstd frame holds \(content) bytes, directory says \(size)")
        }
        let length = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        guard ZSTD_isError(length) == 0, length == frame.count else {
            throw fail("\(what): zstd frame does not fill its \(frame.count)-byte blob exactly")
        }
        let n = ZSTD_decompress(target, size, frame.baseAddress, frame.count)
        if ZSTD_isError(n) != 0 {
            throw fail("\(what): zstd decompression failed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == size else { throw fail("\(what): decompressed to \(n) bytes, directory says \(size)") }
    }

    /// Decodes one blob. `stored` lies inside `mapping`, which raw tensors borrow.
    static func decode(_ entry: PackTensorEntry, stored: UnsafeRawBufferPointer, mapping: MappedFile,
                       verify: Bool, fail: (String) -> RuntimeError) throws -> TensorStorage {
        let what = "tensor '\(entry.name)'"
        if verify, PackChecksum.xxh64(stored) != entry.checksum {
            throw fail("\(what): checksum mismatch, its \(entry.codec) blob at offset \(entry.offset) is corrupt")
        }
        switch entry.codec {
        case .raw:
            guard entry.rawSize > 0 else { return TensorStorage(byteCount: 0) }
            return TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: stored.baseAddress!),
                                 byteCount: entry.rawSize, owner: mapping)
        case .zstd, .shuffleZstd:
            let target = AlignedAllocation(byteCount: entry.rawSize)
            let scratch = entry.codec == .shuffleZstd ? AlignedAllocation(byteCount: entry.rawSize) : target
            try decodeFrame(stored, into: scratch.pointer, size: entry.rawSize, what: what, fail: fail)
            if entry.codec == .shuffleZstd {
                let width = entry.dtype.byteSize
                lseg_byte_unshuffle(scratch.pointer, target.pointer, entry.rawSize / width, width)
            }
            return TensorStorage(borrowing: target.pointer, byteCount: entry.rawSize, owner: target)
        case .planes:
            let width = entry.dtype.byteSize, count = entry.rawSize / width
            let header = width * 8
            guard stored.count >= header else {
                throw fail("\(what): planes blob of \(stored.count) bytes is shorter than its \(header)-byte header")
            }
            // Raw planes are read where they lie in the mapping; only compressed planes get a
            // plane-sized buffer. So decoding holds the target plus the compressed planes, not
            // a second full-size copy.
            var planes: [UnsafeRawPointer] = []
            var buffers: [AlignedAllocation] = []
            var at = header
            for j in 0..<width {
                let length = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: j * 8, as: UInt64.self))
                guard length <= UInt64(count), Int(length) <= stored.count - at else {
                    throw fail("\(what): byte plane \(j) claims \(length) stored bytes, more than its \(count) bytes or the blob holds")
                }
                let part = UnsafeRawBufferPointer(rebasing: stored[at..<at + Int(length)])
                if Int(length) == count {
                    planes.append(part.baseAddress ?? stored.baseAddress!)
                } else {
                    let plane = AlignedAllocation(byteCount: count)
                    try decodeFrame(part, into: plane.pointer, size: count, what: "\(what) byte plane \(j)", fail: fail)
                    buffers.append(plane)
                    planes.append(UnsafeRawPointer(plane.pointer))
                }
                at += Int(length)
            }
            guard at == stored.count else {
                throw fail("\(what): byte planes end at \(at) of a \(stored.count)-byte blob")
            }
            let target = AlignedAllocation(byteCount: entry.rawSize)
            planes.map { Optional($0) }.withUnsafeBufferPointer { p in
                lseg_byte_unshuffle_planes(p.baseAddress, target.pointer, count, width)
            }
            withExtendedLifetime(buffers) {}
            return TensorStorage(borrowing: target.pointer, byteCount: entry.rawSize, owner: target)
        }
    }
}
