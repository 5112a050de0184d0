/// Errors of the converter. Every case names the file and what a user needs to find the
/// problem (node, op type, tensor, attribute); `description` is one line.
public enum ConvertError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file cannot be read (missing, unreadable, not mappable).
    case io(file: String, what: String)
    /// The file is not a well-formed ONNX model (bad protobuf, missing graph, bad opset table).
    case badModel(file: String, what: String)
    /// A tensor (initializer, Constant value, attribute tensor) is malformed.
    case badTensor(file: String, tensor: String, what: String)
    /// A graph input/output/value_info entry is malformed.
    case badValue(file: String, value: String, what: String)
    /// A node is malformed or uses an attribute value we cannot honour.
    case badNode(file: String, node: String, op: String, what: String)
    /// A node reads a value that no graph input, initializer or node defines.
    case danglingInput(file: String, node: String, op: String, input: String)
    /// Two definitions of one value name (node outputs, initializers, graph inputs).
    case duplicateName(file: String, name: String, what: String)
    /// The nodes cannot be ordered: `nodes` form a cycle.
    case cycle(file: String, nodes: [String])
    /// External tensor data is missing, escapes the model folder, or does not fit.
    case externalData(file: String, tensor: String, what: String)
    /// Ops with no mapping to our IR; every offender is listed.
    case unsupportedOps(file: String, ops: [UnsupportedOp])

    public var description: String {
        switch self {
        case .io(let file, let what): return "\(file): \(what)"
        case .badModel(let file, let what): return "\(file): \(what)"
        case .badTensor(let file, let tensor, let what): return "\(file): tensor '\(tensor)': \(what)"
        case .badValue(let file, let value, let what): return "\(file): value '\(value)': \(what)"
        case .badNode(let file, let node, let op, let what): return "\(file): node '\(node)' (\(op)): \(what)"
        case .danglingInput(let file, let node, let op, let input):
            return "\(file): node '\(node)' (\(op)) reads '\(input)', which no graph input, initializer or node defines"
        case .duplicateName(let file, let name, let what): return "\(file): '\(name)' is defined twice: \(what)"
        case .cycle(let file, let nodes):
            return "\(file): the graph has a cycle through nodes \(nodes.map { "'\($0)'" }.joined(separator: " -> "))"
        case .externalData(let file, let tensor, let what): return "\(file): external data of tensor '\(tensor)': \(what)"
        case .unsupportedOps(let file, let ops):
            let total = ops.reduce(0) { $0 + $1.count }
            return "\(file): \(total) node(s) of \(ops.count) unsupported op type(s): "
                + ops.map(\.description).joined(separator: "; ")
        }
    }
}

/// One unsupported op type as found in a model: how often and where.
public struct UnsupportedOp: Equatable, Sendable, CustomStringConvertible {
    public var opType: String
    /// "" for the default ONNX domain.
    public var domain: String
    /// The opset the model imports for `domain` (nil when it imports none).
    public var opset: Int?
    public var count: Int
    /// The first few node names.
    public var nodes: [String]
    /// Why, when it is not simply "no mapping" (for example "needs opset 20").
    public var reason: String?

    public init(opType: String, domain: String, opset: Int?, count: Int, nodes: [String], reason: String? = nil) {
        self.opType = opType; self.domain = domain; self.opset = opset; self.count = count
        self.nodes = nodes; self.reason = reason
    }

    public var description: String {
        let dom = domain.isEmpty ? "ai.onnx" : domain
        let ver = opset.map { "opset \($0)" } ?? "no opset import"
        let more = count > nodes.count ? ", ..." : ""
        let why = reason.map { ", \($0)" } ?? ""
        return "\(opType) (\(dom), \(ver)\(why)) x\(count): \(nodes.joined(separator: ", "))\(more)"
    }
}
