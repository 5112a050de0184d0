import COnnx
import Foundation
import Runtime

/// A decoded node attribute: every ONNX attribute type.
enum AttributeValue {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(Tensor)
    case graph(SubgraphSummary)
    case floats([Float])
    case ints([Int])
    case strings([String])
    case tensors([Tensor])
    case graphs([SubgraphSummary])
    /// Made dense.
    case sparseTensor(Tensor)
    case sparseTensors([Tensor])
    case typeProto(TypeDescription)
    case typeProtos([TypeDescription])

    var typeName: String {
        switch self {
        case .float: return "FLOAT"
        case .int: return "INT"
        case .string: return "STRING"
        case .tensor: return "TENSOR"
        case .graph: return "GRAPH"
        case .floats: return "FLOATS"
        case .ints: return "INTS"
        case .strings: return "STRINGS"
        case .tensors: return "TENSORS"
        case .graphs: return "GRAPHS"
        case .sparseTensor: return "SPARSE_TENSOR"
        case .sparseTensors: return "SPARSE_TENSORS"
        case .typeProto: return "TYPE_PROTO"
        case .typeProtos: return "TYPE_PROTOS"
        }
    }
}

/// What we keep of a sub-graph attribute (If/Loop bodies are not imported, only described).
struct SubgraphSummary: Equatable {
    var name: String
    var opTypes: [String]
    var inputs: [String]
    var outputs: [String]
}

/// A TypeProto as far as we understand it.
indirect enum TypeDescription: Equatable {
    /// elemType is ONNX's code (kept raw: the type may have no DType).
    case tensor(elemType: Int32, shape: [Dim]?)
    case sparseTensor(elemType: Int32, shape: [Dim]?)
    case sequence(TypeDescription?)
    case map(keyType: Int32, value: TypeDescription?)
    case optional(TypeDescription?)
    case unknown
}

enum AttributeDecoding {
    /// Decodes every attribute of a node. Duplicate names and type/field mismatches are errors.
    static func decode(_ node: UnsafeMutablePointer<Onnx__NodeProto>, nodeName: String, opType: String,
                       tensors: TensorDecoder) throws -> [String: AttributeValue] {
        var out: [String: AttributeValue] = [:]
        for a in cMessages(node.pointee.attribute, node.pointee.n_attribute) {
            let name = cString(a.pointee.name)
            func fail(_ what: String) -> ConvertError {
                .badNode(file: tensors.file, node: nodeName, op: opType, what: "attribute '\(name)': \(what)")
            }
            guard !name.isEmpty else { throw fail("attribute without a name") }
            guard out[name] == nil else { throw fail("given twice") }
            if a.pointee.ref_attr_name != nil { throw fail("refers to a function attribute; functions are not supported") }
            out[name] = try value(a, tensors: tensors, fail: fail)
        }
        return out
    }

    static func value(_ a: UnsafeMutablePointer<Onnx__AttributeProto>, tensors: TensorDecoder,
                      fail: (String) -> ConvertError) throws -> AttributeValue {
        let p = a.pointee
        let attrName = cString(p.name)
        guard p.has_type != 0 else { throw fail("no type (IR version 1 files are not supported)") }
        switch p.type {
        case 1: return .float(p.f)
        case 2:
            guard let v = Int(exactly: p.i) else { throw fail("value out of range") }
            return .int(v)
        case 3: return .string(cBytesString(p.s))
        case 4:
            guard let t = p.t else { throw fail("TENSOR attribute without a tensor") }
            return .tensor(try tensors.tensor(t, fallbackName: attrName))
        case 5:
            guard let g = p.g else { throw fail("GRAPH attribute without a graph") }
            return .graph(summary(g))
        case 6: return .floats(Array(cScalars(p.floats, p.n_floats)))
        case 7: return .ints(cScalars(p.ints, p.n_ints).map { Int($0) })
        case 8: return .strings((0..<p.n_strings).map { cBytesString(p.strings[$0]) })
        case 9: return .tensors(try cMessages(p.tensors, p.n_tensors).map { try tensors.tensor($0, fallbackName: attrName) })
        case 10: return .graphs(cMessages(p.graphs, p.n_graphs).map(summary))
        case 11:
            guard let s = p.sparse_tensor else { throw fail("SPARSE_TENSOR attribute without a tensor") }
            return .sparseTensor(try tensors.sparseTensor(s, fallbackName: attrName))
        case 12:
            return .sparseTensors(try cMessages(p.sparse_tensors, p.n_sparse_tensors).map { try tensors.sparseTensor($0, fallbackName: attrName) })
        case 13:
            guard let t = p.tp else { throw fail("TYPE_PROTO attribute without a type") }
            return .typeProto(try typeDescription(t, fail: fail))
        case 14:
            return .typeProtos(try cMessages(p.type_protos, p.n_type_protos).map { try typeDescription($0, fail: fail) })
        default:
            throw fail("unknown attribute type \(p.type)")
        }
    }

    static func summary(_ g: UnsafeMutablePointer<Onnx__GraphProto>) -> SubgraphSummary {
        let p = g.pointee
        return SubgraphSummary(name: cString(p.name),
                               opTypes: cMessages(p.node, p.n_node).map { cString($0.pointee.op_type) },
                               inputs: cMessages(p.input, p.n_input).map { cString($0.pointee.name) },
                               outputs: cMessages(p.output, p.n_output).map { cString($0.pointee.name) })
    }

    /// Dims of a TensorShapeProto; a dim with neither value nor name gets a symbol from `unnamed`.
    static func dims(_ s: UnsafeMutablePointer<Onnx__TensorShapeProto>?, unnamed: () -> String,
                     fail: (String) -> ConvertError) throws -> [Dim]? {
        guard let s else { return nil }
        var out: [Dim] = []
        for d in cMessages(s.pointee.dim, s.pointee.n_dim) {
            switch d.pointee.value_case {
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
                let v = d.pointee.dim_value
                guard v >= 0, v <= Int64(Int32.max) else { throw fail("dimension \(v) is out of range") }
                out.append(.fixed(Int(v)))
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                let name = cString(d.pointee.dim_param)
                out.append(name.isEmpty ? .symbol(unnamed()) : .symbol(name))
            default:
                out.append(.symbol(unnamed()))
            }
        }
        return out
    }

    static func typeDescription(_ t: UnsafeMutablePointer<Onnx__TypeProto>, fail: (String) -> ConvertError,
                                depth: Int = 0) throws -> TypeDescription {
        guard depth < 16 else { throw fail("type nested too deeply") }
        var counter = 0
        let unnamed = { () -> String in counter += 1; return "unk_\(counter)" }
        switch t.pointee.value_case {
        case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
            let tt = t.pointee.tensor_type!.pointee
            return .tensor(elemType: tt.elem_type, shape: try dims(tt.shape, unnamed: unnamed, fail: fail))
        case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
            let tt = t.pointee.sparse_tensor_type!.pointee
            return .sparseTensor(elemType: tt.elem_type, shape: try dims(tt.shape, unnamed: unnamed, fail: fail))
        case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
            return .sequence(try t.pointee.sequence_type!.pointee.elem_type.map { try typeDescription($0, fail: fail, depth: depth + 1) })
        case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
            return .optional(try t.pointee.optional_type!.pointee.elem_type.map { try typeDescription($0, fail: fail, depth: depth + 1) })
        case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
            let m = t.pointee.map_type!.pointee
            return .map(keyType: m.key_type, value: try m.value_type.map { try typeDescription($0, fail: fail, depth: depth + 1) })
        default:
            return .unknown
        }
    }
}
