import Runtime

/// Who produces and who consumes each value of a graph, computed once per pass sweep.
struct GraphUses {
    /// Value name -> index of the node producing it.
    var producer: [String: Int] = [:]
    /// Value name -> indices of nodes reading it (a node reading a value twice appears twice).
    var consumers: [String: [Int]] = [:]
    var graphOutputs: Set<String>

    init(_ g: Graph) {
        graphOutputs = Set(g.outputs.map(\.name))
        for (i, n) in g.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty { producer[o] = i }
            for v in n.inputs where !v.isEmpty { consumers[v, default: []].append(i) }
        }
    }

    /// Distinct consumer nodes of `value`.
    func consumerNodes(of value: String) -> [Int] {
        var seen = Set<Int>()
        return (consumers[value] ?? []).filter { seen.insert($0).inserted }
    }

    /// True when `value` is read only by node `index` and is not a graph output, so a fusion
    /// may swallow it.
    func isPrivate(_ value: String, to index: Int) -> Bool {
        !graphOutputs.contains(value) && consumerNodes(of: value) == [index]
    }

    /// The single consumer node of `value` when it has exactly one and is not a graph output.
    func soleConsumer(of value: String) -> Int? {
        let c = consumerNodes(of: value)
        guard c.count == 1, !graphOutputs.contains(value) else { return nil }
        return c[0]
    }
}

extension Graph {
    /// Replaces every read of `old` (node inputs and graph outputs) with `new`.
    mutating func replaceUses(of old: String, with new: String) {
        for i in nodes.indices {
            for j in nodes[i].inputs.indices where nodes[i].inputs[j] == old { nodes[i].inputs[j] = new }
        }
        for i in outputs.indices where outputs[i].name == old { outputs[i].name = new }
    }

    /// The loop every fusion pass shares: `match(graph, uses, i)` at each node not yet taken by
    /// an earlier match; a match that overlaps an earlier one is dropped; the graph is rewritten
    /// once at the end (each fused node where its `last` node was, the others removed).
    mutating func fuse(pass: String, _ match: (Graph, GraphUses, Int) -> FusedMatch?) -> PassStats {
        let before = nodes.count
        let uses = GraphUses(self)
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        var fused = 0
        for i in nodes.indices where !removed.contains(i) && replacements[i] == nil {
            guard let m = match(self, uses, i), m.nodes.contains(m.last),
                  m.nodes.allSatisfy({ !removed.contains($0) && replacements[$0] == nil }) else { continue }
            var node = m.node
            m.prepare?(&self, &node)
            removed.formUnion(m.nodes)
            removed.remove(m.last)
            replacements[m.last] = node
            fused += 1
        }
        applyRewrites(removed: removed, replacements: replacements)
        return PassStats(pass: pass, nodesBefore: before, nodesAfter: nodes.count, rewrites: fused)
    }

    /// Drops the nodes at `removed` and puts `replacements` at their indices, keeping order.
    mutating func applyRewrites(removed: Set<Int>, replacements: [Int: Node]) {
        var out: [Node] = []
        out.reserveCapacity(nodes.count)
        for (i, n) in nodes.enumerated() {
            if let r = replacements[i] { out.append(r) } else if !removed.contains(i) { out.append(n) }
        }
        nodes = out
    }

    /// The declared or inferred shape of a value: inferred info, a graph input, or an initializer.
    func knownShape(of name: String) -> [Dim]? {
        if let s = valueInfo[name]?.shape { return s }
        if let v = inputs.first(where: { $0.name == name }) { return v.shape }
        return initializers[name].map { $0.shape.map { .fixed($0) } }
    }

    /// A name not used by any value or initializer, derived from `base`.
    func freshValueName(_ base: String) -> String {
        var used = Set(initializers.keys)
        for v in inputs { used.insert(v.name) }
        for n in nodes { for o in n.outputs { used.insert(o) } }
        if !used.contains(base) { return base }
        var k = 1
        while used.contains("\(base)_\(k)") { k += 1 }
        return "\(base)_\(k)"
    }
}

/// Reading constants out of initializers, for pattern checks.
enum ConstantValue {
    /// The single element of a one-element float or integer tensor.
    static func scalar(_ t: Tensor) -> Double? {
        guard t.count == 1 else { return nil }
        switch t.dtype {
        case .float32: return Double(t.scalars(as: Float.self)[0])
        case .float64: return t.scalars(as: Double.self)[0]
        case .int64, .int32, .int16, .int8, .uint8, .uint16, .uint32, .uint64:
            return t.integers().map { Double($0[0]) }
        case .float16, .bfloat16, .bool: return nil
        }
    }

    /// True when `t` is a one-element tensor within `relTol` of `expected`.
    static func isScalar(_ t: Tensor?, _ expected: Double, relTol: Double = 1e-4) -> Bool {
        guard let t, let v = scalar(t) else { return false }
        return abs(v - expected) <= relTol * max(abs(expected), 1e-12)
    }
}

/// Evaluations whose result depends only on an input's shape.
enum ShapeOnlyEvaluation {
    /// Runs the `Shape` kernel for an input of this type and shape. The kernel reads only the
    /// shape, so the input view points at a small dummy buffer instead of real data.
    static func evaluateShape(_ op: Op, dtype: DType, shape: [Int], node: String) throws -> Tensor {
        let outTypes = try op.inferOutputs([ShapeInput(dtype: dtype, shape: shape)], node: node)
        guard outTypes.count == 1 else {
            throw PassError.badNode(node: node, op: op.typeName, what: "expected one output, got \(outTypes.count)")
        }
        let out = Tensor(dtype: outTypes[0].dtype, shape: outTypes[0].shape)
        let dummy = TensorStorage(byteCount: 64)
        let view = TensorView(dtype: dtype, shape: shape, data: dummy.pointer)
        try op.run([view], [TensorView(out)], ExecContext(threads: 1), node: node)
        return out
    }
}

/// What a fusion pass found: `node` replaces the nodes at `nodes` and takes the place (and the
/// outputs) of `last`, one of them. `prepare` runs only when the match is taken, for changes
/// beyond the node (e.g. a new initializer the node reads).
struct FusedMatch {
    var nodes: [Int]
    var last: Int
    var node: Node
    var prepare: ((inout Graph, inout Node) -> Void)? = nil
}
