import Glibc

/// The `.pack` container: one file holding a `Model`'s metadata, graphs and weights
/// (formats/PACK.md). Reader and writer live here so the format is defined in one place.
public enum Pack {
    /// Writes `model` to the file at `path` atomically: a temporary file in the same folder,
    /// flushed, then renamed over it. The same model and options always give the same bytes.
    @discardableResult
    public static func write(_ model: Model, to path: String, options: PackWriteOptions = .init()) throws -> PackWriteReport {
        try PackWriter(model: model, path: path, options: options).write()
    }

    /// Reads a whole model: raw blobs are borrowed from a read-only mapping of the file,
    /// compressed ones are decoded in parallel into aligned buffers. Every checksum is verified
    /// unless `options.verifyChecksums` is off.
    public static func read(_ path: String, options: PackReadOptions = .init()) throws -> Model {
        try PackReader(path: path).readModel(options: options)
    }

    /// Reads a whole model as `read` does, with a handle on the file mapping its raw tensors
    /// borrow, so a caller can drop weight pages it no longer needs from resident memory.
    public static func readMapped(_ path: String, options: PackReadOptions = .init()) throws -> (model: Model, pages: PackPages) {
        let reader = try PackReader(path: path)
        return (try reader.readModel(options: options), PackPages(file: reader.file))
    }

    /// Checks that every graph's nodes are in execution order with every input defined before
    /// use (no cycles, no dangling or redefined values, every output produced), as Plan needs.
    /// `read` leaves this to Plan; `lseg-inspect --verify` calls it.
    public static func verifyGraphs(_ info: PackInfo, file: String) throws {
        for g in info.graphs { try PackReader.checkStructure(g) { RuntimeError.badPack(file: file, what: $0) } }
    }

    /// Reads header, directory and graph section only (no tensor is decoded), for inspection.
    public static func readDirectory(_ path: String) throws -> PackInfo {
        try PackReader(path: path).info
    }
}

public struct PackWriteOptions: Sendable {
    /// zstd level for tensor blobs and the graph section. Level 1 is the default because on
    /// shuffled weight-like floats it both compresses better and runs about twice as fast as 3.
    public var level: Int32 = 1
    /// A blob is stored raw unless compression saves at least this fraction of its size.
    public var minimumGain: Double = 0.05
    /// Tensors smaller than this many bytes are stored raw (not worth a zstd frame).
    public var rawBelowBytes: Int = 1024
    /// One-byte tensors (int8 weights) are stored raw unless compression saves at least this
    /// fraction: quantized weights save only about 9%, and a raw blob is mapped (shared between
    /// processes, never copied, its pages releasable) where a compressed one is decoded into a
    /// heap copy that stays resident for the model's life.
    public var byteTensorMinimumGain: Double = 0.15
    /// Threads compressing blobs at once; the output does not depend on it.
    public var threads: Int = ProcessorCount.active
    /// About how many raw bytes are compressed per parallel batch: bounds the writer's memory
    /// (compressed blobs wait for their turn to be written) while keeping every thread busy.
    public var batchBytes: Int = 64 << 20
    /// Called after each blob is written with (raw tensor bytes done, raw tensor bytes in all).
    public var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)?

    public init(level: Int32 = 1, minimumGain: Double = 0.05, rawBelowBytes: Int = 1024, byteTensorMinimumGain: Double = 0.15,
                threads: Int = ProcessorCount.active, batchBytes: Int = 64 << 20,
                progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil) {
        self.level = level; self.minimumGain = minimumGain; self.rawBelowBytes = rawBelowBytes
        self.byteTensorMinimumGain = byteTensorMinimumGain
        self.threads = threads; self.batchBytes = batchBytes; self.progress = progress
    }
}

public struct PackReadOptions: Sendable {
    /// Verify every blob's checksum at load (XXH64 runs at several GB/s; leave it on).
    public var verifyChecksums = true
    /// Load only these graphs (and only their tensors); nil loads all.
    public var graphs: Set<String>?
    public init(verifyChecksums: Bool = true, graphs: Set<String>? = nil) {
        self.verifyChecksums = verifyChecksums
        self.graphs = graphs
    }
}

/// What a write produced.
public struct PackWriteReport: Sendable {
    public var fileSize: Int
    public var tensorCount: Int
    public var rawTensorBytes: Int
    public var storedTensorBytes: Int
    /// Tensor count per codec.
    public var codecCounts: [PackCodec: Int]
    public var seconds: Double

    /// Stored over raw tensor bytes.
    public var ratio: Double { rawTensorBytes == 0 ? 1 : Double(storedTensorBytes) / Double(rawTensorBytes) }
}

extension Model {
    /// The embedded CLIP BPE merges file, found by `metadata.vocabularyTensor` among the graphs'
    /// initializers (first graph that has it).
    public var vocabularyBytes: [UInt8]? {
        guard let name = metadata.vocabularyTensor else { return nil }
        for g in graphs {
            if let t = g.initializers[name], t.dtype == .uint8 { return t.scalars(as: UInt8.self) }
        }
        return nil
    }
}

/// The mapped file behind a pack's raw tensors. Releasing a tensor drops its whole pages from
/// resident memory; they are read again from the file (page cache) if it is ever touched
/// again, so the tensor stays valid. Worth it for weights a kernel has copied into a prepared
/// layout and no longer reads.
public final class PackPages: @unchecked Sendable {
    let file: MappedFile

    init(file: MappedFile) { self.file = file }

    /// Whether `tensor`'s bytes lie in this mapping (a raw blob), not in a decoded heap copy.
    public func contains(_ tensor: Tensor) -> Bool {
        guard let base = file.pointer, tensor.byteCount > 0 else { return false }
        let p = UnsafeRawPointer(tensor.storage.pointer), start = UnsafeRawPointer(base)
        return p >= start && p + tensor.byteCount <= start + file.count
    }

    /// Drops the whole pages of `tensor` from resident memory when it lies in the mapping;
    /// returns the bytes released (0 for a tensor decoded into memory of its own).
    @discardableResult
    public func release(_ tensor: Tensor) -> Int {
        guard contains(tensor), let base = file.pointer else { return 0 }
        let offset = UnsafeRawPointer(tensor.storage.pointer) - UnsafeRawPointer(base)
        return file.release(offset: offset, count: tensor.byteCount)
    }
}
