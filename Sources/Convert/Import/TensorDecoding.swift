import COnnx
import Foundation
import Runtime

/// Turns TensorProtos (initializers, Constant values, tensor attributes) into `Tensor`s:
/// raw_data, every typed field, external data and sparse tensors, with every size checked.
final class TensorDecoder: @unchecked Sendable {
    let file: String
    let external: ExternalDataResolver

    /// raw_data payloads kept out of the decoded message, by TensorProto address (`ONNXModelFile.bulk`).
    let bulk: [UnsafeMutableRawPointer: Range<Int>]
    /// The mapped model file those ranges refer to.
    let source: MappedFile?

    init(file: String, external: ExternalDataResolver, bulk: [UnsafeMutableRawPointer: Range<Int>] = [:], source: MappedFile? = nil) {
        self.file = file
        self.external = external
        self.bulk = bulk
        self.source = source
    }

    func dtype(code: Int32, tensor: String) throws -> DType {
        if code == 8 { throw ConvertError.badTensor(file: file, tensor: tensor, what: "string tensors are not supported") }
        guard code > 0, code <= 255, let d = DType(rawValue: UInt8(code)) else {
            throw ConvertError.badTensor(file: file, tensor: tensor, what: "element type \(code) (\(Self.onnxTypeName(code))) is not supported")
        }
        return d
    }

    static func onnxTypeName(_ code: Int32) -> String {
        let names = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
                     "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
                     "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"]
        return code >= 0 && Int(code) < names.count ? names[Int(code)] : "unknown"
    }

    /// Shape from int64 dims, refusing negative dims and element or byte counts that overflow.
    func shape(_ dims: UnsafeBufferPointer<Int64>, dtype: DType, tensor: String) throws -> (shape: [Int], count: Int, bytes: Int) {
        guard dims.count <= 64 else { throw ConvertError.badTensor(file: file, tensor: tensor, what: "rank \(dims.count) is too large") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard d >= 0 else { throw ConvertError.badTensor(file: file, tensor: tensor, what: "negative dimension \(d) in shape \(Array(dims))") }
            shape.append(Int(d))
        }
        guard let count = Tensor.checkedElementCount(shape) else {
            throw ConvertError.badTensor(file: file, tensor: tensor, what: "shape \(shape) has too many elements")
        }
        let (bytes, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o else { throw ConvertError.badTensor(file: file, tensor: tensor, what: "shape \(shape) is too large") }
        return (shape, count, bytes)
    }

    /// Decodes `t`; `fallbackName` names it in errors when the proto has no name.
    /// raw_data buffers are taken over from the message (no copy), so decode each proto once.
    func tensor(_ t: UnsafeMutablePointer<Onnx__TensorProto>, fallbackName: String = "") throws -> Tensor {
        let p = t.pointee
        let name = p.name != nil ? cString(p.name) : fallbackName
        func fail(_ what: String) -> ConvertError { .badTensor(file: file, tensor: name, what: what) }
        guard p.has_data_type != 0 else { throw fail("no data_type") }
        let dtype = try self.dtype(code: p.data_type, tensor: name)
        let (shape, count, bytes) = try self.shape(cScalars(p.dims, p.n_dims), dtype: dtype, tensor: name)
        if p.segment != nil { throw fail("segmented tensors are not supported") }

        if p.has_data_location != 0 && p.data_location == 1 {
            let (src, mapping) = try external.bytes(tensor: name, entries: cStringEntries(p.external_data, p.n_external_data), expected: bytes)
            // Aligned data (exporters align large tensors to pages) is used in place; the rest is copied.
            if bytes > 0, let base = src.baseAddress, Int(bitPattern: base) % TensorStorage.alignment == 0 {
                return Tensor(dtype: dtype, shape: shape,
                              storage: TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: base), byteCount: bytes, owner: mapping))
            }
            return Tensor(dtype: dtype, shape: shape, storage: TensorStorage(copying: src))
        }
        if p.has_data_location != 0 && p.data_location != 0 { throw fail("unknown data_location \(p.data_location)") }

        if let range = bulk[UnsafeMutableRawPointer(t)], let source {
            guard range.count == bytes else { throw fail("raw_data holds \(range.count) bytes but \(dtype)\(shape) needs \(bytes)") }
            let src = source.bytes.baseAddress! + range.lowerBound
            if Int(bitPattern: src) % TensorStorage.alignment == 0 {
                return Tensor(dtype: dtype, shape: shape,
                              storage: TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: src), byteCount: bytes, owner: source))
            }
            // Kernels get 64-byte aligned weights: copy, then drop the source pages so the
            // process holds these bytes once.
            let copy = UninitializedBuffer(byteCount: bytes)
            copy.pointer.copyMemory(from: src, byteCount: bytes)
            source.release(range)
            return Tensor(dtype: dtype, shape: shape, storage: TensorStorage(borrowing: copy.pointer, byteCount: bytes, owner: copy))
        }

        if p.has_raw_data != 0 && (p.raw_data.len > 0 || bytes == 0) {
            guard p.raw_data.len == bytes else {
                throw fail("raw_data holds \(p.raw_data.len) bytes but \(dtype)\(shape) needs \(bytes)")
            }
            guard bytes > 0, let data = p.raw_data.data else { return Tensor(dtype: dtype, shape: shape) }
            // The decoder allocated this buffer 64-byte aligned (lseg_onnx_aligned_allocator):
            // take it over as the tensor's storage and clear the field so the message's free skips it.
            t.pointee.raw_data.data = nil
            t.pointee.raw_data.len = 0
            let owner = DecodedBuffer(UnsafeMutableRawPointer(data))
            return Tensor(dtype: dtype, shape: shape, storage: TensorStorage(borrowing: owner.pointer, byteCount: bytes, owner: owner))
        }

        let fields: [(String, Int)] = [("float_data", p.n_float_data), ("int32_data", p.n_int32_data), ("string_data", p.n_string_data),
                                       ("int64_data", p.n_int64_data), ("double_data", p.n_double_data), ("uint64_data", p.n_uint64_data)]
        let present = fields.filter { $0.1 > 0 }
        if present.isEmpty {
            guard count == 0 else { throw fail("no data for \(dtype)\(shape) (\(count) elements)") }
            return Tensor(dtype: dtype, shape: shape)
        }
        guard present.count == 1 else { throw fail("data in several fields: \(present.map(\.0).joined(separator: ", "))") }
        let (field, n) = present[0]
        guard n == count else { throw fail("\(field) holds \(n) values but \(dtype)\(shape) has \(count) elements") }
        let out = Tensor(dtype: dtype, shape: shape)
        let dst = out.data
        func wrongField() -> ConvertError { fail("\(field) cannot hold \(dtype) values") }
        switch dtype {
        case .float32:
            guard field == "float_data" else { throw wrongField() }
            dst.copyMemory(from: p.float_data, byteCount: bytes)
        case .int64:
            guard field == "int64_data" else { throw wrongField() }
            dst.copyMemory(from: p.int64_data, byteCount: bytes)
        case .float64:
            guard field == "double_data" else { throw wrongField() }
            dst.copyMemory(from: p.double_data, byteCount: bytes)
        case .uint64:
            guard field == "uint64_data" else { throw wrongField() }
            dst.copyMemory(from: p.uint64_data, byteCount: bytes)
        case .uint32:
            guard field == "uint64_data" else { throw wrongField() }
            let d = dst.assumingMemoryBound(to: UInt32.self)
            for i in 0..<count { d[i] = UInt32(truncatingIfNeeded: p.uint64_data[i]) }
        case .int32:
            guard field == "int32_data" else { throw wrongField() }
            dst.copyMemory(from: p.int32_data, byteCount: bytes)
        case .int16, .uint16, .float16, .bfloat16:
            // These travel as the low 16 bits of int32 values (float16/bfloat16 as bit patterns).
            guard field == "int32_data" else { throw wrongField() }
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = UInt16(truncatingIfNeeded: p.int32_data[i]) }
        case .int8, .uint8, .bool:
            guard field == "int32_data" else { throw wrongField() }
            let d = dst.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { d[i] = UInt8(truncatingIfNeeded: p.int32_data[i]) }
        }
        return out
    }

    /// A sparse tensor made dense: values [NNZ] scattered at indices [NNZ] (linear) or [NNZ, rank].
    func sparseTensor(_ s: UnsafeMutablePointer<Onnx__SparseTensorProto>, fallbackName: String = "") throws -> Tensor {
        let p = s.pointee
        guard let v = p.values else { throw ConvertError.badTensor(file: file, tensor: fallbackName, what: "sparse tensor without values") }
        let values = try tensor(v, fallbackName: fallbackName)
        let name = v.pointee.name != nil ? cString(v.pointee.name) : fallbackName
        func fail(_ what: String) -> ConvertError { .badTensor(file: file, tensor: name, what: "sparse: " + what) }
        guard let ip = p.indices else { throw fail("no indices") }
        let indices = try tensor(ip, fallbackName: name + ".indices")
        let (shape, count, _) = try self.shape(cScalars(p.dims, p.n_dims), dtype: values.dtype, tensor: name)
        let nnz = values.count
        guard values.rank == 1 else { throw fail("values must be 1-D, got shape \(values.shape)") }
        guard let idx = indices.integers() else { throw fail("indices must be integers, got \(indices.dtype)") }
        let linear: [Int]
        if indices.shape == [nnz] {
            linear = idx
        } else if indices.shape == [nnz, shape.count] {
            var out: [Int] = []
            out.reserveCapacity(nnz)
            for i in 0..<nnz {
                var l = 0
                for (a, dim) in shape.enumerated() {
                    let x = idx[i * shape.count + a]
                    guard x >= 0, x < dim else { throw fail("index \(x) out of range for dimension \(a) of \(shape)") }
                    l = l * dim + x
                }
                out.append(l)
            }
            linear = out
        } else {
            throw fail("indices shape \(indices.shape) fits neither [\(nnz)] nor [\(nnz), \(shape.count)]")
        }
        let dense = Tensor(dtype: values.dtype, shape: shape)
        let size = values.dtype.byteSize
        for (i, l) in linear.enumerated() {
            guard l >= 0, l < count else { throw fail("linear index \(l) out of range for \(count) elements") }
            (dense.data + l * size).copyMemory(from: values.data + i * size, byteCount: size)
        }
        return dense
    }
}

/// 64-byte aligned memory without the zero fill of TensorStorage(byteCount:), for buffers that
/// are overwritten at once.
final class UninitializedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(byteCount: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: TensorStorage.alignment)
    }
    deinit { pointer.deallocate() }
}
