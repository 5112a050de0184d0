import CZstd
import Glibc

/// Lays out and writes one pack: header placeholder, aligned blobs, directory, graph section,
/// then the real header (formats/PACK.md, "Layout").
struct PackWriter {
    let model: Model
    let path: String
    let options: PackWriteOptions

    private struct Item {
        var entryName: String
        var tensor: Tensor
        /// Written raw whatever compression would save (see `Graph.lookupTables`).
        var keepRaw = false
    }

    /// Whether a graph has a Conv or QConv with fused attributes a 1.x reader would not see.
    static func needsFusedConvMajor(_ model: Model) -> Bool {
        func fused(_ a: ConvAttrs) -> Bool { a.preActivation != .none || a.residual }
        return model.graphs.contains { g in
            g.nodes.contains { (n: Node) -> Bool in
                switch n.op {
                case .conv(let a): return fused(a)
                case .qConv(let q): return fused(q.conv)
                default: return false
                }
            }
        }
    }

    func write() throws -> PackWriteReport {
        let start = SystemClock.nanoseconds()
        let (items, records) = try collect()
        let (graphRaw, graphStored) = try PhaseTiming.measure("pack graph section") {
            let raw = try encodeGraphSection(records)
            return (raw, try compressGraphSection(raw))
        }

        let output = try AtomicFileOutput(destination: path)
        do {
            var entries: [PackTensorEntry] = []
            entries.reserveCapacity(items.count)
            try output.write([UInt8](repeating: 0, count: PackFormat.headerSize))
            let dataOffset = output.position
            let total = items.reduce(0) { $0 + $1.tensor.byteCount }
            var done = 0
            var codecCounts: [PackCodec: Int] = [:]
            var encodeNanos: UInt64 = 0, writeNanos: UInt64 = 0

            // Compress a batch in parallel, then write it in order: deterministic and bounded in memory.
            var batchStart = 0
            while batchStart < items.count {
                var batchEnd = batchStart, batchBytes = 0
                while batchEnd < items.count && (batchEnd == batchStart || batchBytes + items[batchEnd].tensor.byteCount <= options.batchBytes) {
                    batchBytes += items[batchEnd].tensor.byteCount
                    batchEnd += 1
                }
                let t0 = SystemClock.nanoseconds()
                let blobs = try encodeParallel(Array(items[batchStart..<batchEnd]))
                let t1 = SystemClock.nanoseconds()
                encodeNanos += t1 - t0
                defer { writeNanos += SystemClock.nanoseconds() - t1 }
                for (k, blob) in blobs.enumerated() {
                    let item = items[batchStart + k]
                    try output.pad(toMultipleOf: PackFormat.alignment)
                    let offset = output.position
                    if let bytes = blob.compressed {
                        try output.write(bytes)
                    } else {
                        try output.write(UnsafeRawBufferPointer(start: item.tensor.storage.pointer, count: item.tensor.byteCount))
                    }
                    entries.append(PackTensorEntry(name: item.entryName, dtype: item.tensor.dtype, shape: item.tensor.shape,
                                                   quant: item.tensor.quant, offset: offset, storedSize: blob.storedSize,
                                                   rawSize: item.tensor.byteCount, codec: blob.codec, checksum: blob.checksum))
                    codecCounts[blob.codec, default: 0] += 1
                    done += item.tensor.byteCount
                    options.progress?(done, total)
                }
                batchStart = batchEnd
                // The batch's buffers are free now; glibc keeps freed blocks under its (grown)
                // mmap threshold in the heap, so hand them back or resident memory ratchets up.
                releaseFreedHeap()
            }
            let dataSize = output.position - dataOffset
            PhaseTiming.report("pack compress", seconds: Double(encodeNanos) / 1e9)
            PhaseTiming.report("pack write blobs", seconds: Double(writeNanos) / 1e9)

            let directory = try PackDirectoryCoding.encode(entries)
            let directoryOffset = output.position
            try output.write(directory)
            let graphOffset = output.position
            try output.write(graphStored)
            let fileSize = output.position

            var h = LittleEndianWriter()
            h.append(PackFormat.magic)
            // The lowest major that describes the content (see PackFormat.major).
            h.u16(Self.needsFusedConvMajor(model) ? PackFormat.major : PackFormat.oldestMajor)
            // The lowest minor that describes the content: a pack without planes blobs is a 1.0
            // pack that 1.0 readers load.
            h.u16(codecCounts[.planes, default: 0] > 0 ? PackFormat.minor : 0)
            h.u32(UInt32(PackFormat.headerSize))
            for v in [fileSize, dataOffset, dataSize, directoryOffset, directory.count, entries.count,
                      graphOffset, graphStored.count, graphRaw.count] {
                h.u64(UInt64(v))
            }
            h.u64(PackChecksum.xxh64(directory))
            h.u64(PackChecksum.xxh64(graphStored))
            h.u64(0)  // header checksum, computed over the header with this field zero
            h.pad(toMultipleOf: PackFormat.headerSize)
            h.set(u64: PackChecksum.xxh64(h.bytes), at: PackFormat.headerChecksumOffset)
            try output.write(h.bytes, at: 0)
            try PhaseTiming.measure("pack fsync and rename") { try output.commit() }

            let stored = entries.reduce(0) { $0 + $1.storedSize }
            return PackWriteReport(fileSize: fileSize, tensorCount: entries.count, rawTensorBytes: total,
                                   storedTensorBytes: stored, codecCounts: codecCounts,
                                   seconds: SystemClock.seconds(since: start))
        } catch {
            output.abandon()
            throw error
        }
    }

    /// Tensors in graph order, initializers sorted by name; directory names are `<graph>/<initializer>`.
    private func collect() throws -> ([Item], [PackGraphRecord]) {
        var items: [Item] = []
        var records: [PackGraphRecord] = []
        var graphNames = Set<String>()
        for g in model.graphs {
            guard graphNames.insert(g.name).inserted else {
                throw RuntimeError.badPack(file: path, what: "cannot write: two graphs are named '\(g.name)'")
            }
            var map: [String: String] = [:]
            let tables = Graph.lookupTables(nodes: g.nodes, outputs: g.outputs, ranks: g.initializers.mapValues(\.shape.count))
            for name in g.initializers.keys.sorted() {
                let t = g.initializers[name]!
                let entryName = "\(g.name)/\(name)"
                guard t.storage.byteCount >= t.byteCount else {
                    throw RuntimeError.badPack(file: path, what: "cannot write tensor '\(entryName)': storage smaller than its shape")
                }
                map[name] = entryName
                items.append(Item(entryName: entryName, tensor: t, keepRaw: tables.contains(name)))
            }
            records.append(PackGraphRecord(name: g.name, inputs: g.inputs, outputs: g.outputs, nodes: g.nodes,
                                           valueInfo: g.valueInfo, initializers: map))
        }
        return (items, records)
    }

    private func encodeGraphSection(_ records: [PackGraphRecord]) throws -> [UInt8] {
        do {
            return try JSONCoding.encode(PackGraphSection(metadata: model.metadata, graphs: records))
        } catch {
            throw RuntimeError.badPack(file: path, what: "cannot encode graph section: \(error)")
        }
    }

    private func compressGraphSection(_ raw: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
        let n = raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { lseg_zstd_compress($0.baseAddress, $0.count, src.baseAddress, src.count, options.level, 0) }
        }
        if ZSTD_isError(n) != 0 {
            throw RuntimeError.unsupported("zstd compression of the graph section failed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        out.removeSubrange(n...)
        return out
    }

    private func encodeParallel(_ batch: [Item]) throws -> [EncodedBlob] {
        let results = UnsafeMutableBufferPointer<Result<EncodedBlob, Error>?>.allocate(capacity: batch.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        let options = self.options
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let slots = results
        let work: @Sendable (Int) -> Void = { i in
            slots[i] = Result {
                batch[i].keepRaw ? BlobCodec.rawBlob(batch[i].tensor) : try BlobCodec.encode(batch[i].tensor, options: options)
            }
        }
        if options.threads <= 1 || batch.count == 1 {
            for i in 0..<batch.count { work(i) }
        } else {
            WorkerPool.shared.perform(iterations: batch.count, work)
        }
        return try results.map { try $0!.get() }
    }
}

#if canImport(Glibc)
/// glibc's malloc_trim, looked up at run time (its header, malloc.h, is not in the Glibc module).
private let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(nil, "malloc_trim").map {
    unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self)
}
private func releaseFreedHeap() { _ = mallocTrim?(0) }
#else
private func releaseFreedHeap() {}
#endif
