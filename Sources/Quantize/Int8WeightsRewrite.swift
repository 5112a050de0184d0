import Runtime

/// int8-weights mode: weights of Linear, MatMul, Gemm, Conv and ConvTranspose and large Gather
/// tables are stored int8 (symmetric, per output channel) with a DequantizeLinear after each.
/// The Plan folds the DequantizeLinear at load, so activations stay float.
public enum Int8WeightsRewrite {
    /// Gather tables at least this large are quantized (the CLIP token embedding).
    public static let largeTableElements = 4096

    /// The output-channel axis of each float32 initializer used as a weight, by node kind.
    /// `skip` names nodes whose weights must stay (--keep-float, or already handled).
    static func weightAxes(_ graph: Graph, skip: (Node) -> Bool) -> [String: Int?] {
        var axes: [String: Int?] = [:]
        func note(_ name: String, _ axis: Int?, minRank: Int) {
            guard let t = graph.initializers[name], t.dtype == .float32, t.rank >= minRank, t.count > 1 else { return }
            if let existing = axes[name], existing != axis { axes[name] = .some(nil) } else { axes[name] = axis }
        }
        for n in graph.nodes where !skip(n) {
            switch n.op {
            case .linear(let a): if n.inputs.count > 1 { note(n.inputs[1], a.transB ? 0 : 1, minRank: 2) }
            case .matMul: if n.inputs.count > 1, graph.initializers[n.inputs[1]]?.rank == 2 { note(n.inputs[1], 1, minRank: 2) }
            case .gemm(let a): if n.inputs.count > 1 { note(n.inputs[1], a.transB ? 0 : 1, minRank: 2) }
            case .conv: if n.inputs.count > 1 { note(n.inputs[1], 0, minRank: 3) }
            case .convTranspose(let a): if n.inputs.count > 1 { note(n.inputs[1], a.conv.group == 1 ? 1 : nil, minRank: 3) }
            case .gather(let axis):
                if axis == 0, let t = graph.initializers[n.inputs[0]], t.count >= largeTableElements {
                    note(n.inputs[0], t.rank >= 2 ? 0 : nil, minRank: 1)
                }
            default: break
            }
        }
        return axes
    }

    /// Replaces each weight initializer by int8 values, a scale tensor and a DequantizeLinear
    /// producing the original name. Returns the names replaced.
    @discardableResult
    public static func apply(_ graph: inout Graph, keepFloat: NamePatterns = NamePatterns([]),
                             only include: (Node) -> Bool = { _ in true }) -> [String] {
        let axes = weightAxes(graph, skip: { keepFloat.matches($0.name) || !include($0) })
        // A weight shared with a kept-float node stays float for all.
        var keptInputs = Set<String>()
        for n in graph.nodes where keepFloat.matches(n.name) || !include(n) {
            // Weights that other (float-kept or excluded) nodes still read as float stay float.
            if case .dequantizeLinear = n.op { continue }
            keptInputs.formUnion(n.inputs)
        }
        var taken = Set<String>()
        var dequantizers: [Node] = []
        var done: [String] = []
        for name in axes.keys.sorted() where !keptInputs.contains(name) {
            guard let t = graph.initializers[name], let axis = axes[name] else { continue }
            let q = WeightQuantization.int8(t, axis: axis)
            let qName = graph.freshName(name + "__int8", taken: &taken)
            let sName = graph.freshName(name + "__scale", taken: &taken)
            var stored = q
            stored.quant = nil   // the DequantizeLinear's inputs carry the parameters
            graph.initializers[qName] = stored
            let scales = q.quant!.scales
            graph.initializers[sName] = scales.count == 1 ? .float32(scales, shape: []) : .float32(scales, shape: [scales.count])
            graph.initializers.removeValue(forKey: name)
            graph.valueInfo[qName] = ValueInfo(name: qName, dtype: .int8, shape: t.shape.map { .fixed($0) })
            dequantizers.append(Node(name: graph.freshName(name + "__dequantize", taken: &taken),
                                     op: .dequantizeLinear(axis: axis ?? 0), inputs: [qName, sName], outputs: [name]))
            done.append(name)
        }
        graph.nodes.insert(contentsOf: dequantizers, at: 0)
        return done
    }
}
