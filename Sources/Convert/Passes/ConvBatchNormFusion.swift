import Runtime

/// Folds an inference BatchNormalization with constant parameters into the Conv before it:
/// with s = scale / sqrt(var + eps), W' = W * s (per output channel) and b' = (b - mean) * s + bias.
/// The arithmetic runs on the runtime's elementwise kernels, so it matches what the
/// unfused graph computes. float32 only; the Conv's output must feed only the BatchNormalization.
public enum ConvBatchNormFusion {
    public static func run(_ g: inout Graph) throws -> PassStats {
        let before = g.nodes.count
        let uses = GraphUses(g)
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        var fused = 0
        var notes: [String] = []
        for (i, conv) in g.nodes.enumerated() {
            // A fused residual is added before the BatchNorm would apply: such a conv keeps it.
            guard case .conv(let ca) = conv.op, !ca.residual, conv.inputs.count >= 2, conv.inputs.count <= 3, conv.outputs.count == 1,
                  let w = g.initializers[conv.inputs[1]], w.dtype == .float32, w.rank >= 3,
                  let bnI = uses.soleConsumer(of: conv.outputs[0]), replacements[bnI] == nil, !removed.contains(i) else { continue }
            let bn = g.nodes[bnI]
            guard case .batchNorm(let eps) = bn.op, bn.inputs.count == 5, bn.inputs[0] == conv.outputs[0],
                  bn.outputs.count == 1 || bn.outputs.dropFirst().allSatisfy({ $0.isEmpty }) else { continue }
            let params = bn.inputs[1...4].map { g.initializers[$0] }
            let cout = w.shape[0]
            guard params.allSatisfy({ $0 != nil && $0!.dtype == .float32 && $0!.shape == [cout] }) else { continue }
            let (scale, shift, mean, variance) = (params[0]!, params[1]!, params[2]!, params[3]!)
            var bias = Tensor(dtype: .float32, shape: [cout])
            if conv.inputs.count > 2 && !conv.inputs[2].isEmpty {
                guard let b = g.initializers[conv.inputs[2]], b.dtype == .float32, b.shape == [cout] else { continue }
                bias = b
            }
            do {
                let node = bn.name
                let epsT = Tensor.float32([eps], shape: [])
                let std = try one(.sqrt, [try one(.add, [variance, epsT], node)], node)
                let s = try one(.div, [scale, std], node)
                let sColumn = Tensor(dtype: .float32, shape: [cout] + Array(repeating: 1, count: w.rank - 1), storage: s.storage)
                let newW = try one(.mul, [w, sColumn], node)
                let newB = try one(.add, [try one(.mul, [try one(.sub, [bias, mean], node), s], node), shift], node)
                let wName = g.freshValueName("\(conv.name)_weight_bn")
                g.initializers[wName] = newW
                let bName = g.freshValueName("\(conv.name)_bias_bn")
                g.initializers[bName] = newB
                removed.insert(i)
                replacements[bnI] = Node(name: conv.name, op: conv.op, inputs: [conv.inputs[0], wName, bName], outputs: [bn.outputs[0]])
                fused += 1
            } catch {
                notes.append("could not fold '\(bn.name)' into '\(conv.name)': \(error)")
            }
        }
        g.applyRewrites(removed: removed, replacements: replacements)
        return PassStats(pass: "ConvBatchNormFusion", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: fused, notes: notes)
    }

    private static func one(_ op: Op, _ inputs: [Tensor], _ node: String) throws -> Tensor {
        let out = try Eval.evaluate(op, inputs, node: node)
        guard out.count == 1 else { throw PassError.badNode(node: node, op: op.typeName, what: "expected one output") }
        return out[0]
    }
}
