import Runtime

/// A node the calibrated int8 rewrite turns into qLinear or qConv.
public struct QuantizableNode: Sendable, Equatable {
    public var graph: String
    public var node: String
    public var op: String
    /// The float activation input whose range calibration measures.
    public var input: String
}

/// int8 mode: Linear, MatMul/Gemm with a constant weight, and Conv become qLinear/qConv with
/// int8 per-output-channel weights and calibrated uint8 input parameters (float in, float out,
/// so neighbours that stay float need no explicit quantize/dequantize). ConvTranspose whose windows
/// do not overlap becomes qConvTranspose; other ConvTranspose and large Gather tables take the
/// int8-weights form.
public enum Int8Rewrite {
    /// What qLinear needs from a node: its weight as [N, K], and its bias.
    struct LinearForm {
        var weightNK: Tensor
        var bias: String?
        var activation: Activation
    }

    static func linearForm(_ n: Node, _ g: Graph) -> LinearForm? {
        func constant(_ i: Int) -> Tensor? {
            guard n.inputs.count > i, let t = g.initializers[n.inputs[i]], t.dtype == .float32, t.rank == 2 else { return nil }
            return t
        }
        func floatActivation() -> Bool {
            guard let x = n.inputs.first, !x.isEmpty, g.initializers[x] == nil else { return false }
            if let info = g.valueInfo[x] ?? g.inputs.first(where: { $0.name == x }) {
                return info.dtype == .float32 && (info.shape?.count ?? 2) >= 2
            }
            return true
        }
        guard floatActivation() else { return nil }
        switch n.op {
        case .linear(let a):
            guard let w = constant(1) else { return nil }
            let bias = n.inputs.count > 2 && !n.inputs[2].isEmpty ? n.inputs[2] : nil
            if let b = bias, let bt = g.initializers[b], bt.count != (a.transB ? w.shape[0] : w.shape[1]) { return nil }
            return LinearForm(weightNK: a.transB ? w : WeightQuantization.transposed(w), bias: bias, activation: a.activation)
        case .matMul:
            guard let w = constant(1) else { return nil }
            return LinearForm(weightNK: WeightQuantization.transposed(w), bias: nil, activation: .none)
        case .gemm(let a):
            guard !a.transA, a.alpha == 1, a.beta == 1, let w = constant(1) else { return nil }
            let n0 = a.transB ? w.shape[0] : w.shape[1]
            var bias: String?
            if n.inputs.count > 2, !n.inputs[2].isEmpty {
                guard let c = g.initializers[n.inputs[2]], c.dtype == .float32, c.rank == 1, c.count == n0 else { return nil }
                bias = n.inputs[2]
            }
            return LinearForm(weightNK: a.transB ? w : WeightQuantization.transposed(w), bias: bias, activation: .none)
        default:
            return nil
        }
    }

    static func isQuantizableConv(_ n: Node, _ g: Graph) -> Bool {
        guard case .conv = n.op, n.inputs.count > 1, let w = g.initializers[n.inputs[1]], w.dtype == .float32, w.rank >= 3,
              let x = n.inputs.first, !x.isEmpty, g.initializers[x] == nil else { return false }
        if n.inputs.count > 2, !n.inputs[2].isEmpty, g.initializers[n.inputs[2]] == nil { return false }
        return true
    }

    /// A ConvTranspose whose windows do not overlap (2-D, kernel == stride, no padding, dilation
    /// 1, one group, no output padding or shape) with a constant float weight [Cin, Cout, kh, kw]
    /// and constant bias: the kernel and activation qConvTranspose takes, else nil.
    static func nonOverlappingConvTranspose(_ n: Node, _ g: Graph) -> (kernel: [Int], activation: Activation)? {
        guard case .convTranspose(let a) = n.op, n.inputs.count > 1, let w = g.initializers[n.inputs[1]], w.dtype == .float32,
              w.rank == 4, let x = n.inputs.first, !x.isEmpty, g.initializers[x] == nil else { return nil }
        let kernel = [w.shape[2], w.shape[3]]
        let c = a.conv
        guard c.group == 1, c.kernelShape.isEmpty || c.kernelShape == kernel, c.strides == kernel,
              c.pads.allSatisfy({ $0 == 0 }), c.dilations.allSatisfy({ $0 == 1 }),
              c.autoPad == .notSet || c.autoPad == .valid, a.outputPadding.allSatisfy({ $0 == 0 }), a.outputShape.isEmpty
        else { return nil }
        if n.inputs.count > 2, !n.inputs[2].isEmpty {
            guard let b = g.initializers[n.inputs[2]], b.dtype == .float32, b.rank == 1, b.count == w.shape[1] else { return nil }
        }
        return (kernel, c.activation)
    }

    /// The [Cout * kh * kw, Cin] rows qConvTranspose multiplies, from an ONNX ConvTranspose
    /// weight [Cin, Cout, kh, kw].
    static func convTransposeRows(_ w: Tensor) -> Tensor {
        let (cin, cout, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let v = w.scalars(as: Float.self), kk = kh * kw
        var out = [Float](repeating: 0, count: v.count)
        for c in 0..<cin { for o in 0..<cout { for t in 0..<kk { out[(o * kk + t) * cin + c] = v[(c * cout + o) * kk + t] } } }
        return .float32(out, shape: [cout * kk, cin])
    }

    /// The nodes of `graph` the rewrite would quantize, excluding `keepFloat` matches.
    public static func candidates(_ graph: Graph, keepFloat: NamePatterns = NamePatterns([])) -> [QuantizableNode] {
        graph.nodes.compactMap { n in
            guard !keepFloat.matches(n.name),
                  linearForm(n, graph) != nil || isQuantizableConv(n, graph) || nonOverlappingConvTranspose(n, graph) != nil
            else { return nil }
            return QuantizableNode(graph: graph.name, node: n.name, op: n.op.typeName, input: n.inputs[0])
        }
    }

    /// Rewrites the nodes named in `ranges` (node name -> clipping range of its input) and puts
    /// the remaining weights (ConvTranspose, large tables) in int8-weights form. Returns the
    /// names of the nodes rewritten.
    @discardableResult
    public static func apply(_ graph: inout Graph, ranges: [String: ClipRange], keepFloat: NamePatterns = NamePatterns([])) -> [String] {
        var taken = Set<String>()
        var rewritten: [String] = []
        var converted: [String: String] = [:]   // original weight name -> [N, K] int8 name (linear forms)
        for i in graph.nodes.indices {
            let n = graph.nodes[i]
            guard var range = ranges[n.name], !keepFloat.matches(n.name) else { continue }
            // A conv with a fused pre-ReLU quantizes max(x, 0): its calibrated input range is x's,
            // so the part below zero would only waste codes.
            if case .conv(let a) = n.op, a.preActivation == .relu, range.upper > 0 { range.lower = Swift.max(range.lower, 0) }
            let params = range.uint8Params
            if let form = linearForm(n, graph) {
                let key = n.inputs[1] + (n.op == .matMul || isTransposed(n.op) ? "^T" : "")
                let wName: String
                if let existing = converted[key] {
                    wName = existing
                } else {
                    wName = graph.freshName(n.inputs[1] + "__qlinear", taken: &taken)
                    graph.initializers[wName] = WeightQuantization.int8(form.weightNK, axis: 0)
                    graph.valueInfo[wName] = ValueInfo(name: wName, dtype: .int8, shape: form.weightNK.shape.map { .fixed($0) })
                    converted[key] = wName
                }
                var inputs = [n.inputs[0], wName]
                if let b = form.bias { inputs.append(b) }
                graph.nodes[i] = Node(name: n.name, op: .qLinear(QLinearAttrs(input: params, activation: form.activation)),
                                      inputs: inputs, outputs: n.outputs)
                rewritten.append(n.name)
            } else if isQuantizableConv(n, graph), case .conv(let attrs) = n.op {
                let key = n.inputs[1]
                let wName: String
                if let existing = converted[key] {
                    wName = existing
                } else {
                    wName = graph.freshName(n.inputs[1] + "__qconv", taken: &taken)
                    let w = graph.initializers[n.inputs[1]]!
                    graph.initializers[wName] = WeightQuantization.int8(w, axis: 0)
                    graph.valueInfo[wName] = ValueInfo(name: wName, dtype: .int8, shape: w.shape.map { .fixed($0) })
                    converted[key] = wName
                }
                var inputs = n.inputs
                inputs[1] = wName
                graph.nodes[i] = Node(name: n.name, op: .qConv(QConvAttrs(conv: attrs, input: params)), inputs: inputs, outputs: n.outputs)
                rewritten.append(n.name)
            } else if let form = nonOverlappingConvTranspose(n, graph) {
                let key = n.inputs[1] + "^rows"
                let wName: String
                if let existing = converted[key] {
                    wName = existing
                } else {
                    wName = graph.freshName(n.inputs[1] + "__qconvtranspose", taken: &taken)
                    let rows = convTransposeRows(graph.initializers[n.inputs[1]]!)
                    graph.initializers[wName] = WeightQuantization.int8(rows, axis: 0)
                    graph.valueInfo[wName] = ValueInfo(name: wName, dtype: .int8, shape: rows.shape.map { .fixed($0) })
                    converted[key] = wName
                }
                var inputs = [n.inputs[0], wName]
                if n.inputs.count > 2, !n.inputs[2].isEmpty { inputs.append(n.inputs[2]) }
                let attrs = QConvTransposeAttrs(kernel: form.kernel, input: params, activation: form.activation)
                graph.nodes[i] = Node(name: n.name, op: .qConvTranspose(attrs), inputs: inputs, outputs: n.outputs)
                rewritten.append(n.name)
            }
        }
        graph.removeUnusedInitializers(among: Set(converted.keys.map { key in
            for suffix in ["^T", "^rows"] where key.hasSuffix(suffix) { return String(key.dropLast(suffix.count)) }
            return key
        }))
        // What is left float among weights: ConvTranspose, MatMul/Gemm forms qLinear cannot take,
        // large tables. Nodes kept float by the caller keep their weights float too.
        let rewrittenSet = Set(rewritten)
        Int8WeightsRewrite.apply(&graph, keepFloat: NamePatterns(keepFloat.patterns), only: { n in
            if rewrittenSet.contains(n.name) { return false }
            switch n.op {
            case .convTranspose, .gather: return true
            default: return false
            }
        })
        return rewritten
    }

    /// Whether a node's weight is stored [K, N] (so the [N, K] copy is a transpose).
    static func isTransposed(_ op: Op) -> Bool {
        switch op {
        case .linear(let a): return !a.transB
        case .gemm(let a): return !a.transB
        default: return false
        }
    }
}
