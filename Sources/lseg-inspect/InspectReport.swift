import Foundation
import Runtime

/// Everything lseg-inspect shows, in one Codable value so text and JSON say the same.
struct InspectReport: Codable {
    struct Value: Codable {
        var name: String
        var dtype: String
        /// Dims as numbers or symbol names; nil when the rank is unknown.
        var shape: [Dim]?
        init(_ v: ValueInfo) {
            name = v.name; dtype = v.dtype.description; shape = v.shape
        }
    }
    struct OpCount: Codable { var op: String; var count: Int }
    struct GraphSummary: Codable {
        var name: String
        var role: String?
        var inputs: [Value]
        var outputs: [Value]
        var nodeCount: Int
        var initializerCount: Int
        var parameterCount: Int
        var ops: [OpCount]
    }
    struct TensorRow: Codable {
        var name: String
        var dtype: String
        var shape: [Int]
        var codec: String
        var storedBytes: Int
        var rawBytes: Int
        var quantization: QuantParams?
    }

    var file: String
    var version: String
    var fileBytes: Int
    var verified: Bool
    var metadata: Metadata
    var graphs: [GraphSummary]
    var tensors: [TensorRow]
    var storedTensorBytes: Int
    var rawTensorBytes: Int
    var ratio: Double

    init(file: String, info: PackInfo, verified: Bool) {
        self.file = file
        version = "\(info.majorVersion).\(info.minorVersion)"
        fileBytes = info.fileSize
        self.verified = verified
        metadata = info.metadata
        let entries = Dictionary(uniqueKeysWithValues: info.tensors.map { ($0.name, $0) })
        graphs = info.graphs.map { g in
            let params = g.initializers.values.reduce(0) { sum, entry in
                sum + (entries[entry].map { Tensor.elementCount($0.shape) } ?? 0)
            }
            return GraphSummary(name: g.name, role: info.metadata.roles[g.name], inputs: g.inputs.map(Value.init),
                                outputs: g.outputs.map(Value.init), nodeCount: g.nodes.count,
                                initializerCount: g.initializers.count, parameterCount: params,
                                ops: g.opHistogram.map { OpCount(op: $0.0, count: $0.1) })
        }
        tensors = info.tensors.map {
            TensorRow(name: $0.name, dtype: $0.dtype.description, shape: $0.shape, codec: $0.codec.description,
                      storedBytes: $0.storedSize, rawBytes: $0.rawSize, quantization: $0.quant)
        }
        storedTensorBytes = info.storedTensorBytes
        rawTensorBytes = info.rawTensorBytes
        ratio = rawTensorBytes == 0 ? 1 : Double(storedTensorBytes) / Double(rawTensorBytes)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
