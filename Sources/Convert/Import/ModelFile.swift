import COnnx
import Foundation

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

    /// Maps and decodes the file at `url`.
    convenience init(_ url: URL) throws {
        try self.init(mapped: try MappedFile(url))
    }

    /// Decodes an already mapped file (the mapping may be released afterwards: the message
    /// owns copies of everything it holds).
    init(mapped: MappedFile) throws {
        url = mapped.url
        name = mapped.url.lastPathComponent
        byteCount = mapped.byteCount
        guard mapped.byteCount > 0 else { throw ConvertError.badModel(file: name, what: "the file is empty") }
        let bytes = mapped.bytes
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        switch lseg_onnx_check_nesting(base, bytes.count, UInt32(ONNXModelFile.maxNesting)) {
        case Int32(LSEG_ONNX_TOO_DEEP):
            throw ConvertError.badModel(file: name, what: "messages nest deeper than \(ONNXModelFile.maxNesting) levels (corrupt or hostile file)")
        case Int32(LSEG_ONNX_MALFORMED):
            throw ConvertError.badModel(file: name, what: "not a valid ONNX protobuf (truncated or corrupt wire format, \(bytes.count) bytes)")
        default: break
        }
        guard let m = lseg_onnx_model_unpack(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count) else {
            throw ConvertError.badModel(file: name, what: "not a valid ONNX protobuf (truncated or corrupt ModelProto, \(bytes.count) bytes)")
        }
        model = m
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
