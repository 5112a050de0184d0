import CZstd
import Glibc

/// Maps a pack and validates header, directory and graph section (formats/PACK.md, "Reading").
struct PackReader {
    let file: MappedFile
    let info: PackInfo
    private let path: String

    init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        info = try PackReader.parse(file.bytes, path: path)
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> PackInfo {
        func fail(_ what: String) -> RuntimeError { .badPack(file: path, what: what) }
        let n = bytes.count
        let magic = PackFormat.magic
        guard n > 0 else { throw fail("empty file, not a pack") }
        guard zip(bytes.prefix(magic.count), magic).allSatisfy({ $0 == $1 }) else {
            throw fail("not a pack file (bad magic)")
        }
        var r = CheckedReader(bytes, at: magic.count) { fail("truncated header: \($0)") }
        let major = try r.u16("major version"), minor = try r.u16("minor version")
        guard (PackFormat.oldestMajor...PackFormat.major).contains(major) else {
            throw fail("pack version \(major).\(minor) is not supported (this reader reads \(PackFormat.oldestMajor).x to \(PackFormat.major).x)")
        }
        let headerSize = Int(try r.u32("header size"))
        guard n >= PackFormat.headerSize else {
            throw fail("truncated: file is \(n) bytes, the header alone needs \(PackFormat.headerSize)")
        }
        guard headerSize >= PackFormat.headerSize, headerSize <= PackFormat.maxHeaderSize, headerSize % 8 == 0 else {
            throw fail("header: header size \(headerSize) is invalid")
        }
        guard headerSize <= n else { throw fail("truncated: file is \(n) bytes, header says it has \(headerSize)") }
        var header = Array(bytes[0..<headerSize])
        for i in 0..<8 { header[PackFormat.headerChecksumOffset + i] = 0 }
        let storedHeaderChecksum = bytes.loadUnaligned(fromByteOffset: PackFormat.headerChecksumOffset, as: UInt64.self)
        guard PackChecksum.xxh64(header) == UInt64(littleEndian: storedHeaderChecksum) else {
            throw fail("header: checksum mismatch (header is corrupt)")
        }

        r = CheckedReader(bytes, at: PackFormat.fileSizeOffset) { fail("header: \($0)") }
        let fileSize = try r.size("file size")
        let dataOffset = try r.size("data offset"), dataSize = try r.size("data size")
        let directoryOffset = try r.size("directory offset"), directorySize = try r.size("directory size")
        let tensorCount = try r.size("tensor count")
        let graphOffset = try r.size("graph section offset"), graphStoredSize = try r.size("graph section size")
        let graphRawSize = try r.size("graph section raw size")
        let directoryChecksum = try r.u64("directory checksum"), graphChecksum = try r.u64("graph checksum")

        guard fileSize == n else {
            throw fail(n < fileSize ? "truncated: file is \(n) bytes, header says \(fileSize)"
                                    : "file is \(n) bytes, header says \(fileSize) (trailing data)")
        }
        guard dataOffset >= headerSize, dataOffset % PackFormat.alignment == 0,
              rangeFits(offset: dataOffset, length: dataSize, limit: n) else {
            throw fail("header: data section (offset \(dataOffset), \(dataSize) bytes) lies outside the file")
        }
        guard directoryOffset >= dataOffset + dataSize, rangeFits(offset: directoryOffset, length: directorySize, limit: n) else {
            throw fail("header: directory (offset \(directoryOffset), \(directorySize) bytes) lies outside the file or overlaps data")
        }
        guard graphOffset >= directoryOffset + directorySize, rangeFits(offset: graphOffset, length: graphStoredSize, limit: n) else {
            throw fail("header: graph section (offset \(graphOffset), \(graphStoredSize) bytes) lies outside the file or overlaps the directory")
        }

        let directory = UnsafeRawBufferPointer(rebasing: bytes[directoryOffset..<directoryOffset + directorySize])
        guard PackChecksum.xxh64(directory) == directoryChecksum else {
            throw fail("directory: checksum mismatch (directory is corrupt)")
        }
        guard tensorCount <= directorySize / PackFormat.entryFixedSize else {
            throw fail("directory: \(tensorCount) tensors cannot fit in \(directorySize) bytes")
        }
        let entries = try PackDirectoryCoding.decode(directory, count: tensorCount,
                                                     data: dataOffset..<dataOffset + dataSize, fail: fail)

        try checkPadding(bytes, headerSize: headerSize, data: dataOffset..<dataOffset + dataSize, entries: entries, fail: fail)

        let graphBytes = UnsafeRawBufferPointer(rebasing: bytes[graphOffset..<graphOffset + graphStoredSize])
        guard PackChecksum.xxh64(graphBytes) == graphChecksum else {
            throw fail("graph section: checksum mismatch (graph section is corrupt)")
        }
        let section = try decodeGraphSection(graphBytes, rawSize: graphRawSize, fail: fail)

        let byName = Set(entries.map(\.name))
        var graphNames = Set<String>()
        for g in section.graphs {
            guard graphNames.insert(g.name).inserted else { throw fail("graph section: two graphs are named '\(g.name)'") }
            for (initializer, entry) in g.initializers.sorted(by: { $0.key < $1.key }) where !byName.contains(entry) {
                throw fail("graph '\(g.name)': initializer '\(initializer)' names tensor '\(entry)', which is not in the directory")
            }
        }
        return PackInfo(majorVersion: Int(major), minorVersion: Int(minor), fileSize: n, metadata: section.metadata,
                        graphs: section.graphs, tensors: entries, graphSectionStoredSize: graphStoredSize,
                        graphSectionRawSize: graphRawSize)
    }

    /// The bytes no checksum covers (between the header and the data, and between blobs) are
    /// zero padding: checking that they are makes every single flipped bit in a pack detectable.
    private static func checkPadding(_ bytes: UnsafeRawBufferPointer, headerSize: Int, data: Range<Int>,
                                     entries: [PackTensorEntry], fail: (String) -> RuntimeError) throws {
        var at = headerSize
        func zeros(upTo end: Int, _ what: String) throws {
            if at < end, let bad = (at..<end).first(where: { bytes[$0] != 0 }) {
                throw fail("data section: nonzero byte at offset \(bad) in the padding \(what) (file is corrupt)")
            }
        }
        for e in entries.sorted(by: { $0.offset < $1.offset }) {
            try zeros(upTo: e.offset, "before tensor '\(e.name)'")
            at = max(at, e.offset + e.storedSize)
        }
        try zeros(upTo: data.upperBound, "after the last blob")
    }

    /// Each graph is a list of nodes in execution order: every node input is a graph input, an
    /// initializer or an earlier node's output, and no value is defined twice (so no cycles).
    static func checkStructure(_ g: PackGraphRecord, fail: (String) -> RuntimeError) throws {
        var defined = Set<String>()
        for i in g.inputs {
            guard defined.insert(i.name).inserted else { throw fail("graph '\(g.name)': input '\(i.name)' is declared twice") }
        }
        // An initializer may share a graph input's name (ONNX's default-value inputs).
        defined.formUnion(g.initializers.keys)
        for node in g.nodes {
            for i in node.inputs where !i.isEmpty && !defined.contains(i) {
                throw fail("graph '\(g.name)': node '\(node.name)' reads '\(i)', which is not defined before it (missing, or a cycle)")
            }
            for o in node.outputs where !o.isEmpty {
                guard defined.insert(o).inserted else { throw fail("graph '\(g.name)': node '\(node.name)' redefines '\(o)'") }
            }
        }
        for o in g.outputs where !defined.contains(o.name) {
            throw fail("graph '\(g.name)': output '\(o.name)' is never produced")
        }
    }

    private static func decodeGraphSection(_ stored: UnsafeRawBufferPointer, rawSize: Int,
                                           fail: (String) -> RuntimeError) throws -> PackGraphSection {
        guard rawSize <= PackFormat.maxGraphRawSize else { throw fail("graph section: raw size \(rawSize) is implausibly large") }
        let content = ZSTD_getFrameContentSize(stored.baseAddress, stored.count)
        guard content == UInt64(rawSize) else {
            throw fail("graph section: zstd frame content size \(content) does not match the header's \(rawSize)")
        }
        var raw = [UInt8](repeating: 0, count: rawSize)
        let got = raw.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, rawSize, stored.baseAddress, stored.count) }
        if ZSTD_isError(got) != 0 {
            throw fail("graph section: zstd decompression failed: \(String(cString: ZSTD_getErrorName(got)))")
        }
        guard got == rawSize else { throw fail("graph section: decompressed to \(got) bytes, header says \(rawSize)") }
        do {
            return try JSONCoding.decode(PackGraphSection.self, from: raw)
        } catch let DecodingError.dataCorrupted(c), let DecodingError.keyNotFound(_, c),
                    let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            let path = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            throw fail("graph section: invalid content at '\(path)': \(c.debugDescription)")
        } catch {
            throw fail("graph section: invalid content: \(error)")
        }
    }

    func readModel(options: PackReadOptions) throws -> Model {
        let records = info.graphs.filter { options.graphs?.contains($0.name) ?? true }
        if let wanted = options.graphs, let missing = wanted.first(where: { w in !records.contains { $0.name == w } }) {
            throw RuntimeError.badPack(file: path, what: "no graph '\(missing)' (graphs: \(info.graphs.map(\.name).joined(separator: ", ")))")
        }
        let needed = Set(records.flatMap { $0.initializers.values })
        let entries = info.tensors.filter { needed.contains($0.name) }
        let rankOf = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.shape.count) })
        let lookupTables = Set(records.flatMap { r in
            Graph.lookupTables(nodes: r.nodes, outputs: r.outputs, ranks: r.initializers.compactMapValues { rankOf[$0] })
                .compactMap { r.initializers[$0] }
        })
        // The mapping is read-only here and outlives the loop.
        nonisolated(unsafe) let base = file.bytes
        let mapping = file
        let path = self.path
        let results = UnsafeMutableBufferPointer<Result<TensorStorage, Error>?>.allocate(capacity: entries.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        // Each iteration writes only its own slot; the largest blobs go first to balance threads.
        nonisolated(unsafe) let slots = results
        let order = entries.indices.sorted { entries[$0].storedSize > entries[$1].storedSize }
        WorkerPool.shared.perform(iterations: entries.count) { k in
            let i = order[k]
            let e = entries[i]
            let stored = UnsafeRawBufferPointer(rebasing: base[e.offset..<e.offset + e.storedSize])
            slots[i] = Result {
                try BlobCodec.decode(e, stored: stored, mapping: mapping, verify: options.verifyChecksums) {
                    RuntimeError.badPack(file: path, what: $0)
                }
            }
            // A compressed blob's file pages are not needed once decoded: drop them, so resident
            // memory holds each weight once rather than twice. A raw blob's pages were touched
            // only by the checksum: drop them too, so a weight becomes resident when a kernel
            // first reads it (from the page cache), not all at once at load.
            if e.codec == .raw && lookupTables.contains(e.name) {
                mapping.adviseSparseReads(offset: e.offset, count: e.storedSize)
            } else if e.codec != .raw || options.verifyChecksums {
                mapping.release(offset: e.offset, count: e.storedSize)
            }
        }
        var storages: [String: TensorStorage] = [:]
        for (i, e) in entries.enumerated() { storages[e.name] = try results[i]!.get() }
        let entryByName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })

        var graphs: [Graph] = []
        for record in records {
            var initializers: [String: Tensor] = [:]
            for (name, entryName) in record.initializers {
                let e = entryByName[entryName]!
                initializers[name] = Tensor(dtype: e.dtype, shape: e.shape, storage: storages[entryName]!, quant: e.quant)
            }
            graphs.append(Graph(name: record.name, inputs: record.inputs, outputs: record.outputs, nodes: record.nodes,
                                initializers: initializers, valueInfo: record.valueInfo))
        }
        return Model(metadata: info.metadata, graphs: graphs)
    }
}
