import Runtime

/// Lowers qLinear/qConv/qConvTranspose to float ops computing the same values: QuantizeLinear and
/// DequantizeLinear of the input with the calibrated parameters, the int8 weight dequantized
/// (folded at plan time), then the float Linear/Conv. A reference for the int8 kernels, and a
/// way to measure a quantized graph where those kernels are unavailable.
public enum Int8Emulation {
    public static func lower(_ graph: Graph) -> Graph {
        var g = graph
        var taken = Set<String>()
        var nodes: [Node] = []
        var dequantizedWeights: [String: String] = [:]
        var replacedWeights = Set<String>()
        func weight(_ name: String) -> String {
            if let d = dequantizedWeights[name] { return d }
            let t = g.initializers[name]!
            let out = g.freshName(name + "__emulated", taken: &taken)
            g.initializers[out] = .float32(WeightQuantization.dequantized(t), shape: t.shape)
            dequantizedWeights[name] = out
            return out
        }
        func fakeQuantized(_ x: String, _ p: QuantParams, node: String) -> String {
            let s = g.freshName(node + "__in_scale", taken: &taken)
            let z = g.freshName(node + "__in_zero", taken: &taken)
            let q = g.freshName(node + "__in_q", taken: &taken)
            let d = g.freshName(node + "__in_dq", taken: &taken)
            g.initializers[s] = .float32([p.scales[0]], shape: [])
            g.initializers[z] = Tensor(dtype: .uint8, shape: [], scalars: [UInt8(p.zeroPoints[0])])
            nodes.append(Node(name: q, op: .quantizeLinear(axis: 1), inputs: [x, s, z], outputs: [q]))
            nodes.append(Node(name: d, op: .dequantizeLinear(axis: 1), inputs: [q, s, z], outputs: [d]))
            return d
        }
        for n in graph.nodes {
            switch n.op {
            case .qLinear(let a):
                var inputs = n.inputs
                inputs[0] = fakeQuantized(n.inputs[0], a.input, node: n.name)
                inputs[1] = weight(n.inputs[1])
                nodes.append(Node(name: n.name, op: .linear(LinearAttrs(transB: true, activation: a.activation)), inputs: inputs, outputs: n.outputs))
            case .qConv(let a):
                var inputs = n.inputs
                inputs[0] = fakeQuantized(n.inputs[0], a.input, node: n.name)
                inputs[1] = weight(n.inputs[1])
                nodes.append(Node(name: n.name, op: .conv(a.conv), inputs: inputs, outputs: n.outputs))
            case .qConvTranspose(let a):
                // Back to an ONNX ConvTranspose weight [Cin, Cout, kh, kw] (dequantized rows).
                let rows = g.initializers[n.inputs[1]]!
                let (r, cin) = (rows.shape[0], rows.shape[1]), kk = a.kernel[0] * a.kernel[1], cout = r / kk
                let v = WeightQuantization.dequantized(rows)
                replacedWeights.insert(n.inputs[1])
                var w = [Float](repeating: 0, count: v.count)
                for c in 0..<cin { for o in 0..<cout { for t in 0..<kk { w[(c * cout + o) * kk + t] = v[(o * kk + t) * cin + c] } } }
                let wName = g.freshName(n.inputs[1] + "__emulated_onnx", taken: &taken)
                g.initializers[wName] = .float32(w, shape: [cin, cout, a.kernel[0], a.kernel[1]])
                var inputs = n.inputs
                inputs[0] = fakeQuantized(n.inputs[0], a.input, node: n.name)
                inputs[1] = wName
                let conv = ConvAttrs(kernelShape: a.kernel, strides: a.kernel, activation: a.activation)
                nodes.append(Node(name: n.name, op: .convTranspose(ConvTransposeAttrs(conv: conv)), inputs: inputs, outputs: n.outputs))
            default:
                nodes.append(n)
            }
        }
        g.nodes = nodes
        g.removeUnusedInitializers(among: Set(dequantizedWeights.keys).union(replacedWeights))
        return g
    }

    public static func lower(_ model: Model) -> Model {
        var m = model
        m.graphs = model.graphs.map { lower($0) }
        return m
    }
}
