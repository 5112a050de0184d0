import Runtime

/// Replaces nodes whose outputs are known before running with initializers, computed by the
/// runtime's own kernels (`Eval.evaluate`):
/// - nodes whose inputs are all initializers (folded in order, so chains collapse);
/// - `Shape` of a value whose shape is fully static;
/// - nodes whose outputs shape inference found identical in every probe (`knownValues`),
///   e.g. `Gather(Shape(x), 1)` when only x's first dimension is symbolic.
/// Shape arithmetic that depends on symbolic dimensions stays; Plan evaluates it per input shape.
/// Outputs much larger than their inputs (Expand, ConstantOfShape, Range producing big tensors)
/// stay nodes unless a consumer needs the value to know its own shape.
public enum ConstantFolding {
    public struct Options: Sendable {
        /// A fold may always produce up to this many elements, and beyond it up to
        /// `maxGrowth` times the elements of its inputs.
        public var smallElementCount = 65_536
        public var maxGrowth = 2
        public init(smallElementCount: Int = 65_536, maxGrowth: Int = 2) {
            self.smallElementCount = smallElementCount; self.maxGrowth = maxGrowth
        }
    }

    public static func run(_ g: inout Graph, knownValues: [String: Tensor] = [:], options: Options = Options()) throws -> PassStats {
        let before = g.nodes.count
        let graphOutputs = Set(g.outputs.map(\.name))
        // Values whose contents decide a consumer's output shape: folding those is worth a big tensor.
        var shapeDeciding = Set<String>()
        for n in g.nodes {
            for i in n.op.valueInputs where i < n.inputs.count && !n.inputs[i].isEmpty { shapeDeciding.insert(n.inputs[i]) }
        }
        var notes: [String] = []
        var kept: [Node] = []
        kept.reserveCapacity(g.nodes.count)
        var folded = 0
        for n in g.nodes {
            let outs = n.outputs.filter { !$0.isEmpty }
            // A graph output stays produced by a node so the graph keeps its interface.
            guard !outs.isEmpty, !outs.contains(where: graphOutputs.contains) else { kept.append(n); continue }

            if outs.allSatisfy({ knownValues[$0] != nil }) {
                for o in outs { g.initializers[o] = knownValues[o]! }
                folded += 1
                continue
            }
            if case .shape = n.op, let x = n.inputs.first, let shape = staticShape(g, x) {
                let dtype = g.initializers[x]?.dtype ?? g.valueInfo[x]!.dtype
                let t = try ShapeOnlyEvaluation.evaluateShape(n.op, dtype: dtype, shape: shape, node: n.name)
                g.initializers[outs[0]] = t
                folded += 1
                continue
            }
            let present = n.inputs.filter { !$0.isEmpty }
            guard !present.isEmpty, present.allSatisfy({ g.initializers[$0] != nil }) else { kept.append(n); continue }
            let inputs: [Tensor?] = n.inputs.map { $0.isEmpty ? nil : g.initializers[$0]! }
            do {
                let types = try n.op.inferOutputs(inputs.map { $0.map(ShapeInput.init) }, node: n.name)
                let outElements = types.reduce(0) { $0 + $1.count }
                let inElements = inputs.reduce(0) { $0 + ($1?.count ?? 0) }
                let needed = outs.contains(where: shapeDeciding.contains)
                guard needed || outElements <= max(options.smallElementCount, options.maxGrowth * inElements) else {
                    notes.append("kept '\(n.name)' (\(n.op.typeName)): \(outElements) elements from \(inElements)")
                    kept.append(n)
                    continue
                }
                let values = try Eval.evaluate(n.op, inputs, node: n.name)
                guard values.count >= n.outputs.count else { kept.append(n); continue }
                for (k, o) in n.outputs.enumerated() where !o.isEmpty { g.initializers[o] = values[k] }
                folded += 1
            } catch {
                notes.append("could not fold '\(n.name)' (\(n.op.typeName)): \(error)")
                kept.append(n)
            }
        }
        g.nodes = kept
        for name in g.initializers.keys { g.valueInfo[name] = nil }
        return PassStats(pass: "ConstantFolding", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: folded, notes: notes)
    }

    /// The concrete shape of an initializer, or of a value whose inferred shape is fully fixed.
    static func staticShape(_ g: Graph, _ name: String) -> [Int]? {
        if let t = g.initializers[name] { return t.shape }
        return g.valueInfo[name]?.shape?.concrete
    }
}
