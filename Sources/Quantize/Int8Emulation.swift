import Runtime

/// Lowers qLinear/qConv to float ops computing the same values: QuantizeLinear and
/// DequantizeLinear of the input with the calibrated parameters, the int8 weight dequantized
/// (folded at plan time), then the float Linear/Conv. A reference for the int8 kernels, and a
/// way to measure a quantized graph where those kernels are unavailable.
public enum Int8Emulation {
    public static func lower(_ graph: Graph) -> Graph {
        var g = graph
        var taken = Set<String>()
        var nodes: [Node] = []
        var dequantizedWeights: [String: String] = [:]
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
            default:
                nodes.append(n)
            }
        }
        g.nodes = nodes
        g.removeUnusedInitializers(among: Set(dequantizedWeights.keys))
        return g
    }

    public static func lower(_ model: Model) -> Model {
        var m = model
        m.graphs = model.graphs.map { lower($0) }
        return m
    }
}
