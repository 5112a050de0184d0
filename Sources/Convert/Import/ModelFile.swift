import COnnx
import Foundation
import Runtime

/// A decoded ONNX model file: the libprotobuf-c message tree, freed with the generated free
/// function when this goes away. The file itself is mapped, decoded, and unmapped.
final class ONNXModelFile: @unchecked Sendable {
    let url: URL
    let name: String
    let byteCount: Int
    let model: UnsafeMutablePointer<Onnx__ModelProto>
    /// Deepest message nesting accepted. Real exports nest a few levels (a subgraph costs three:
    /// node, attribute, graph); the limit keeps libprotobuf-c's recursion far from the stack's end.
    static let maxNesting = 100

    /// Raw data payloads left out of the unpack (see `BulkDataSplitter`), by the address of the
    /// decoded TensorProto they belong to, as byte ranges of the mapped file.
    let bulk: [UnsafeMutableRawPointer: Range<Int>]
    /// The mapped file `bulk` refers to, kept alive with the message.
    let mapping: MappedFile

    /// Maps and decodes the file at `url`.
    convenience init(_ url: URL) throws {
        try self.init(mapped: try MappedFile(url))
    }

    /// Decodes an already mapped file. Large raw_data payloads are not copied into the message:
    /// `bulk` says where they are in `mapping`; decode tensors with `tensorDecoder(external:)`.
    init(mapped: MappedFile) throws {
        url = mapped.url
        mapping = mapped
        name = mapped.url.lastPathComponent
        byteCount = mapped.byteCount
        let name = mapped.url.lastPathComponent
        guard mapped.byteCount > 0 else { throw ConvertError.badModel(file: name, what: "the file is empty") }
        let split = PhaseTiming.measure("split bulk data from structure") { BulkDataSplitter.split(mapped.bytes) }
        if let split {
            model = try split.pruned.withUnsafeBytes { try Self.unpack($0, name: name, fileBytes: mapped.byteCount) }
            bulk = Self.locate(split, in: model)
        } else {
            model = try Self.unpack(mapped.bytes, name: name, fileBytes: mapped.byteCount)
            bulk = [:]
        }
    }

    /// A decoder for this file's tensors that knows where the payloads left out of the message are.
    func tensorDecoder(external: ExternalDataResolver) -> TensorDecoder {
        TensorDecoder(file: name, external: external, bulk: bulk, source: mapping)
    }

    private static func unpack(_ bytes: UnsafeRawBufferPointer, name: String, fileBytes: Int) throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw ConvertError.badModel(file: name, what: "not a valid ONNX protobuf (truncated or corrupt ModelProto, \(fileBytes) bytes)")
        }
        switch lseg_onnx_check_nesting(base, bytes.count, UInt32(ONNXModelFile.maxNesting)) {
        case Int32(LSEG_ONNX_TOO_DEEP):
            throw ConvertError.badModel(file: name, what: "messages nest deeper than \(ONNXModelFile.maxNesting) levels (corrupt or hostile file)")
        case Int32(LSEG_ONNX_MALFORMED):
            throw ConvertError.badModel(file: name, what: "not a valid ONNX protobuf (truncated or corrupt wire format, \(fileBytes) bytes)")
        default: break
        }
        guard let m = lseg_onnx_model_unpack(base, bytes.count) else {
            throw ConvertError.badModel(file: name, what: "not a valid ONNX protobuf (truncated or corrupt ModelProto, \(fileBytes) bytes)")
        }
        return m
    }

    /// Ties the split's payload ranges to the decoded TensorProtos (repeated fields keep wire order).
    private static func locate(_ split: BulkDataSplitter.Split, in model: UnsafeMutablePointer<Onnx__ModelProto>) -> [UnsafeMutableRawPointer: Range<Int>] {
        guard let g = model.pointee.graph else { return [:] }
        var out: [UnsafeMutableRawPointer: Range<Int>] = [:]
        for (i, r) in split.initializers where i < g.pointee.n_initializer {
            if let t = g.pointee.initializer[i] { out[UnsafeMutableRawPointer(t)] = r }
        }
        for (k, r) in split.attributes where k.node < g.pointee.n_node {
            guard let n = g.pointee.node[k.node], k.attribute < n.pointee.n_attribute,
                  let a = n.pointee.attribute[k.attribute], let t = a.pointee.t else { continue }
            out[UnsafeMutableRawPointer(t)] = r
        }
        return out
    }

    deinit { lseg_onnx_model_free(model) }
}

/// Memory taken over from the decoded message (a raw_data buffer), freed with the C allocator.
final class DecodedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
    deinit { lseg_onnx_buffer_free(pointer) }
}

// Reading protobuf-c fields: strings may be NULL (absent), arrays come as count + pointer.
@inline(__always) func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

@inline(__always) func cMessages<T>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ n: Int) -> [UnsafeMutablePointer<T>] {
    guard let p, n > 0 else { return [] }
    var out: [UnsafeMutablePointer<T>] = []
    out.reserveCapacity(n)
    for i in 0..<n { if let m = p[i] { out.append(m) } }
    return out
}

@inline(__always) func cScalars<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> UnsafeBufferPointer<T> {
    guard let p, n > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
    return UnsafeBufferPointer(start: p, count: n)
}

@inline(__always) func cBytes(_ b: ProtobufCBinaryData) -> [UInt8] {
    guard let d = b.data, b.len > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: d, count: b.len))
}

@inline(__always) func cBytesString(_ b: ProtobufCBinaryData) -> String {
    String(decoding: cBytes(b), as: UTF8.self)
}

func cStringEntries(_ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?, _ n: Int) -> [(String, String)] {
    cMessages(p, n).map { (cString($0.pointee.key), cString($0.pointee.value)) }
}
