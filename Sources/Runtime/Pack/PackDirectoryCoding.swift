/// Binary encoding of the tensor directory (formats/PACK.md, "Directory entry").
enum PackDirectoryCoding {
    static func encode(_ entries: [PackTensorEntry]) throws -> [UInt8] {
        var w = LittleEndianWriter()
        for e in entries {
            let start = w.bytes.count
            let name = Array(e.name.utf8)
            guard e.shape.count <= PackFormat.maxRank, name.count <= PackFormat.maxNameLength else {
                throw RuntimeError.unsupported("tensor '\(e.name)': rank or name too long for a pack")
            }
            var flags: UInt8 = 0
            if let q = e.quant {
                flags |= PackFormat.flagQuant
                if q.axis != nil { flags |= PackFormat.flagQuantAxis }
                guard q.scales.count <= PackFormat.maxQuantCount, q.zeroPoints.count <= PackFormat.maxQuantCount else {
                    throw RuntimeError.unsupported("tensor '\(e.name)': too many quantization parameters")
                }
            }
            w.u32(0)  // entry size, set below
            w.u8(e.dtype.rawValue)
            w.u8(e.codec.rawValue)
            w.u8(UInt8(e.shape.count))
            w.u8(flags)
            w.u32(UInt32(name.count))
            w.u32(0)
            w.u64(UInt64(e.offset))
            w.u64(UInt64(e.storedSize))
            w.u64(UInt64(e.rawSize))
            w.u64(e.checksum)
            for d in e.shape { w.i64(Int64(d)) }
            w.append(name)
            if let q = e.quant {
                if let axis = q.axis { w.i64(Int64(axis)) }
                w.u32(UInt32(q.scales.count))
                w.u32(UInt32(q.zeroPoints.count))
                for s in q.scales { w.f32(s) }
                for z in q.zeroPoints { w.i32(z) }
            }
            w.pad(toMultipleOf: 8)
            let size = UInt32(w.bytes.count - start)
            withUnsafeBytes(of: size.littleEndian) { for i in 0..<4 { w.bytes[start + i] = $0[i] } }
        }
        return w.bytes
    }

    /// Parses and validates `count` entries. Blobs must lie in `data` (offsets absolute in the file).
    static func decode(_ bytes: UnsafeRawBufferPointer, count: Int, data: Range<Int>,
                       fail: @escaping (String) -> RuntimeError) throws -> [PackTensorEntry] {
        var entries: [PackTensorEntry] = []
        entries.reserveCapacity(count)
        var names = Set<String>()
        var outer = CheckedReader(bytes) { fail("directory: \($0)") }
        for i in 0..<count {
            var peek = outer
            let entrySize = Int(try peek.u32("entry \(i) size"))
            guard entrySize >= PackFormat.entryFixedSize else {
                throw fail("directory: entry \(i) size \(entrySize) is below the \(PackFormat.entryFixedSize)-byte minimum")
            }
            let entryBytes = try outer.raw(entrySize, "entry \(i)")
            var label = "directory entry \(i)"
            var r = CheckedReader(entryBytes) { [label] in fail("\(label): \($0)") }
            _ = try r.u32("size")
            let dtypeRaw = try r.u8("dtype"), codecRaw = try r.u8("codec")
            let rank = Int(try r.u8("rank")), flags = try r.u8("flags")
            let nameLength = Int(try r.u32("name length"))
            _ = try r.u32("reserved")
            let offset = try r.size("offset"), storedSize = try r.size("stored size"), rawSize = try r.size("raw size")
            let checksum = try r.u64("checksum")
            var shape: [Int] = []
            for k in 0..<rank {
                let d = try r.i64("dimension \(k)")
                guard d >= 0 else { throw fail("\(label): negative dimension \(d)") }
                shape.append(Int(d))
            }
            guard nameLength > 0, nameLength <= PackFormat.maxNameLength else { throw fail("\(label): name length \(nameLength) invalid") }
            guard let name = String(validating: try r.raw(nameLength, "name"), as: UTF8.self) else {
                throw fail("\(label): name is not UTF-8")
            }
            label = "directory entry \(i) ('\(name)')"
            r = CheckedReader(entryBytes, at: r.position) { [label] in fail("\(label): \($0)") }
            guard names.insert(name).inserted else { throw fail("\(label): duplicate tensor name") }
            guard let dtype = DType(rawValue: dtypeRaw) else { throw fail("\(label): unknown dtype \(dtypeRaw)") }
            guard let codec = PackCodec(rawValue: codecRaw) else {
                throw fail("\(label): unknown codec \(codecRaw) (written by a newer lseg-kit?)")
            }
            var quant: QuantParams?
            if flags & PackFormat.flagQuant != 0 {
                var axis: Int?
                if flags & PackFormat.flagQuantAxis != 0 { axis = Int(try r.i64("quantization axis")) }
                let ns = Int(try r.u32("scale count")), nz = Int(try r.u32("zero point count"))
                guard ns <= PackFormat.maxQuantCount, nz <= PackFormat.maxQuantCount else {
                    throw fail("\(label): \(ns) scales / \(nz) zero points is too many")
                }
                guard r.remaining >= 4 * (ns + nz) else { throw fail("\(label): quantization parameters run past the entry") }
                var scales: [Float] = [], zeros: [Int32] = []
                for _ in 0..<ns { scales.append(try r.f32("scale")) }
                for _ in 0..<nz { zeros.append(try r.i32("zero point")) }
                quant = QuantParams(scales: scales, zeroPoints: zeros, axis: axis)
            }
            // Anything left before entrySize belongs to a later minor version: skipped.
            guard let elements = Tensor.checkedElementCount(shape) else {
                throw fail("\(label): shape \(shape) is too large")
            }
            let (expected, o) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !o, expected == rawSize else {
                throw fail("\(label): raw size \(rawSize) does not match shape \(shape) of \(dtype)")
            }
            guard offset % PackFormat.alignment == 0 else { throw fail("\(label): offset \(offset) is not 64-byte aligned") }
            guard offset >= data.lowerBound, rangeFits(offset: offset, length: storedSize, limit: data.upperBound) else {
                throw fail("\(label): blob at offset \(offset), \(storedSize) bytes, lies outside the data section \(data)")
            }
            if codec == .raw, storedSize != rawSize {
                throw fail("\(label): raw blob stores \(storedSize) bytes, expected \(rawSize)")
            }
            entries.append(PackTensorEntry(name: name, dtype: dtype, shape: shape, quant: quant, offset: offset,
                                           storedSize: storedSize, rawSize: rawSize, codec: codec, checksum: checksum))
        }
        return entries
    }
}
