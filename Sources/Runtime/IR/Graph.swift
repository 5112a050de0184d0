/// A named, typed value: a graph input or output, or an intermediate whose type was inferred.
public struct ValueInfo: Sendable, Hashable, Codable {
    public var name: String
    public var dtype: DType
    /// nil when the rank is unknown.
    public var shape: [Dim]?
    public init(name: String, dtype: DType, shape: [Dim]?) {
        self.name = name; self.dtype = dtype; self.shape = shape
    }
}

/// One operation. An empty input name stands for an omitted optional input.
public struct Node: Sendable, Equatable, Codable {
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var outputs: [String]
    public init(name: String, op: Op, inputs: [String], outputs: [String]) {
        self.name = name; self.op = op; self.inputs = inputs; self.outputs = outputs
    }
}

/// A dataflow graph: nodes in topological order, weights as initializers.
public struct Graph: Sendable {
    public var name: String
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var nodes: [Node]
    public var initializers: [String: Tensor]
    /// Inferred dtype and (possibly symbolic) shape of intermediates, filled by shape inference.
    public var valueInfo: [String: ValueInfo]

    public init(name: String, inputs: [ValueInfo] = [], outputs: [ValueInfo] = [], nodes: [Node] = [],
                initializers: [String: Tensor] = [:], valueInfo: [String: ValueInfo] = [:]) {
        self.name = name; self.inputs = inputs; self.outputs = outputs; self.nodes = nodes
        self.initializers = initializers; self.valueInfo = valueInfo
    }

    /// Number of weight elements.
    public var parameterCount: Int { initializers.values.reduce(0) { $0 + $1.count } }

    /// Node counts per op type, sorted by name.
    public var opHistogram: [(String, Int)] {
        var h: [String: Int] = [:]
        for n in nodes { h[n.op.typeName, default: 0] += 1 }
        return h.sorted { $0.key < $1.key }
    }

    /// Initializers read only as the table of an axis-0 Gather, such as a token embedding: a run
    /// reads a few rows of them. The pack stores them raw and the reader leaves them mapped, so
    /// only the rows a run reads become resident (CLIP's 49408-token table is 101 MB at width
    /// 512, of which a batch of labels reads a few hundred KB).
    /// `ranks` holds the rank of every initializer (the keys are the initializer names).
    static func lookupTables(nodes: [Node], outputs: [ValueInfo], ranks: [String: Int]) -> Set<String> {
        var tables = Set<String>(), otherUses = Set(outputs.map(\.name))
        for n in nodes {
            for (i, name) in n.inputs.enumerated() {
                guard let rank = ranks[name] else { continue }
                if i == 0, case .gather(let axis) = n.op, axis == 0 || axis == -rank {
                    tables.insert(name)
                } else {
                    otherUses.insert(name)
                }
            }
        }
        return tables.subtracting(otherUses)
    }
}

/// Image preprocessing the graph expects: input size and per-channel mean and std
/// (normalized = (pixel / 255 - mean) / std).
public struct Preprocessing: Sendable, Codable, Equatable {
    public var height: Int
    public var width: Int
    public var mean: [Float]
    public var std: [Float]
    public init(height: Int, width: Int, mean: [Float] = [0.5, 0.5, 0.5], std: [Float] = [0.5, 0.5, 0.5]) {
        self.height = height; self.width = width; self.mean = mean; self.std = std
    }
}

public struct SourceFile: Sendable, Codable, Equatable {
    public var name: String
    public var sha256: String
    public var bytes: Int
    public init(name: String, sha256: String, bytes: Int) { self.name = name; self.sha256 = sha256; self.bytes = bytes }
}

/// How the graphs of a split combined export connect: `from` graph's output feeds `to` graph's input.
public struct GraphLink: Sendable, Codable, Equatable {
    public var fromGraph: String
    public var fromOutput: String
    public var toGraph: String
    public var toInput: String
    public init(fromGraph: String, fromOutput: String, toGraph: String, toInput: String) {
        self.fromGraph = fromGraph; self.fromOutput = fromOutput; self.toGraph = toGraph; self.toInput = toInput
    }
}

/// A graph whose outputs depend only on the positions of one input's `axis` up to and including
/// the first maximum of that input along it (CLIP's end-of-text token under a causal mask).
/// A runner may feed the input cut to that length instead of `fullLength`: the graph is planned
/// with the axis symbolic and gives the same output shapes and values.
public struct SequenceTruncation: Sendable, Codable, Equatable {
    /// The integer token input.
    public var input: String
    public var axis: Int
    /// The length the graph declares (77 for CLIP).
    public var fullLength: Int
    public init(input: String, axis: Int, fullLength: Int) { self.input = input; self.axis = axis; self.fullLength = fullLength }
}

/// What a pack says about itself besides its graphs and tensors.
public struct Metadata: Sendable, Codable, Equatable {
    public var producer = "lseg-kit"
    public var producerVersion = LSegKit.version
    public var sources: [SourceFile] = []
    /// Graph name -> role (`text`, `image`, `main`).
    public var roles: [String: String] = [:]
    public var links: [GraphLink] = []
    public var preprocessing: Preprocessing?
    /// The CLIP BPE merges file (bpe_simple_vocab_16e6.txt, uncompressed text), when the pack
    /// holds a text tower; stored as its own tensor blob, so this is just its tensor name.
    public var vocabularyTensor: String?
    /// The labels whose text features are baked into the image graph (as an initializer in place
    /// of its text-features input), in feature-row order; nil for a pack that takes any labels.
    /// A baked pack has no text tower and no vocabulary.
    public var bakedLabels: [String]?
    /// Free-form quantization summary written by lseg-quantize.
    public var quantization: [String: String] = [:]
    /// Anything else worth keeping (opset, ONNX producer, ...).
    public var extra: [String: String] = [:]
    /// Graph name -> how its sequence axis may be truncated; nil (key absent) in packs without any.
    public var sequenceTruncation: [String: SequenceTruncation]?
    public init() {}
}

/// The unit a pack stores: metadata plus named graphs.
public struct Model: Sendable {
    public var metadata: Metadata
    public var graphs: [Graph]
    public init(metadata: Metadata = Metadata(), graphs: [Graph]) { self.metadata = metadata; self.graphs = graphs }

    public func graph(named name: String) -> Graph? { graphs.first { $0.name == name } }
}

public enum LSegKit {
    public static let version = "0.1.0"
}

extension Graph {
    /// Renames a value everywhere it appears: node inputs and outputs, graph inputs and
    /// outputs, initializers and value info.
    public mutating func rename(value old: String, to new: String) {
        for i in nodes.indices {
            nodes[i].inputs = nodes[i].inputs.map { $0 == old ? new : $0 }
            nodes[i].outputs = nodes[i].outputs.map { $0 == old ? new : $0 }
        }
        for i in inputs.indices where inputs[i].name == old { inputs[i].name = new }
        for i in outputs.indices where outputs[i].name == old { outputs[i].name = new }
        if let t = initializers.removeValue(forKey: old) { initializers[new] = t }
        if var v = valueInfo.removeValue(forKey: old) { v.name = new; valueInfo[new] = v }
    }
}
