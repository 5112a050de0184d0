import CZstd

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

    /// Float data is shuffled first: exponent bytes compress, mantissa bytes mostly do not.
    static func preferredCodec(for dtype: DType) -> PackCodec {
        dtype.isFloat && dtype.byteSize > 1 ? .shuffleZstd : .zstd
    }

    static func encode(_ tensor: Tensor, options: PackWriteOptions) throws -> EncodedBlob {
        let raw = UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.byteCount)
        let rawBlob = EncodedBlob(codec: .raw, compressed: nil, storedSize: raw.count, checksum: PackChecksum.xxh64(raw))
        if raw.count < options.rawBelowBytes || raw.count == 0 { return rawBlob }

        let codec = preferredCodec(for: tensor.dtype)
        // Compression must save at least `minimumGain`; a smaller output buffer lets zstd give up early.
        let gain = Int((Double(raw.count) * options.minimumGain).rounded(.up))
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
            let content = ZSTD_getFrameContentSize(stored.baseAddress, stored.count)
            if content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN {
                throw fail("\(what): blob is not a zstd frame with a content size")
            }
            guard content == UInt64(entry.rawSize) else {
                throw fail("\(what): zstd frame holds \(content) bytes, directory says \(entry.rawSize)")
            }
            let frame = ZSTD_findFrameCompressedSize(stored.baseAddress, stored.count)
            guard ZSTD_isError(frame) == 0, frame == stored.count else {
                throw fail("\(what): zstd frame does not fill its \(stored.count)-byte blob exactly")
            }
            let target = AlignedAllocation(byteCount: entry.rawSize)
            let scratch = entry.codec == .shuffleZstd ? AlignedAllocation(byteCount: entry.rawSize) : target
            let n = ZSTD_decompress(scratch.pointer, entry.rawSize, stored.baseAddress, stored.count)
            if ZSTD_isError(n) != 0 {
                throw fail("\(what): zstd decompression failed: \(String(cString: ZSTD_getErrorName(n)))")
            }
            guard n == entry.rawSize else {
                throw fail("\(what): decompressed to \(n) bytes, directory says \(entry.rawSize)")
            }
            if entry.codec == .shuffleZstd {
                let width = entry.dtype.byteSize
                lseg_byte_unshuffle(scratch.pointer, target.pointer, entry.rawSize / width, width)
            }
            return TensorStorage(borrowing: target.pointer, byteCount: entry.rawSize, owner: target)
        }
    }
}
