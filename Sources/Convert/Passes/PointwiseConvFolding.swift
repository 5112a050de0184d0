import Runtime

/// Folds two 1x1 convolutions in a row into one: Conv2(Conv1(x)) with W = W2 W1 (as [C2, C1] x
/// [C1, C0] matrices) and b = W2 b1 + b2, when nothing happens between them. DPT's last
/// out_conv (256 -> 256) followed by LSeg's head1 (256 -> 512) meet this way once both moved in
/// front of their upsampling (PointwiseConvBeforeResize): one 256 -> 512 conv then does the work
/// of both, 1.2 of the 3.6 GFLOP at 96 x 96 for ViT-B/32 at 384, and one 9.4 MB intermediate is
/// never written. Exact in real arithmetic; the product is formed in double, so in float only the
/// summation order changes.
///
/// Applies when: both are float32 2-D convolutions with 1x1 kernels, stride 1, dilation 1, no
/// padding, one group and constant weights (and biases); the first has no fused activation,
/// pre-activation or residual; the second has no pre-activation (its activation and residual,
/// applied to its own output, stay); the first one's output feeds only the second; and the folded
/// weights are not larger than the two together (C2 C0 <= C1 (C0 + C2)), so a bottleneck pair
/// (256 -> 64 -> 256) stays two convolutions.
public enum PointwiseConvFolding {
    public static func run(_ g: inout Graph) -> PassStats {
        let before = g.nodes.count
        let uses = GraphUses(g)
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        var folded = 0
        for (i, first) in g.nodes.enumerated() where !removed.contains(i) && replacements[i] == nil {
            guard case .conv(let a1) = first.op, PointwiseConvBeforeResize.isPlainPointwise(a1), first.outputs.count == 1,
                  let (w1, b1) = pointwiseWeights(first, g),
                  let j = uses.soleConsumer(of: first.outputs[0]), !removed.contains(j), replacements[j] == nil else { continue }
            let second = g.nodes[j]
            guard case .conv(let a2) = second.op, second.inputs.first == first.outputs[0], second.outputs.count == 1,
                  !second.inputs.dropFirst().contains(first.outputs[0]), a2.preActivation == .none,
                  isPointwiseGeometry(a2), let (w2, b2) = pointwiseWeights(second, g) else { continue }
            let c0 = w1.shape[1], c1 = w1.shape[0], c2 = w2.shape[0]
            guard w2.shape[1] == c1, c2 * c0 <= c1 * (c0 + c2) else { continue }
            let (w, b) = fold(w1: w1.scalars(as: Float.self), b1: b1, w2: w2.scalars(as: Float.self), b2: b2, c0: c0, c1: c1, c2: c2)
            let wName = g.freshValueName("\(second.name)_weight_folded")
            g.initializers[wName] = .float32(w, shape: [c2, c0, 1, 1])
            let bName = g.freshValueName("\(second.name)_bias_folded")
            g.initializers[bName] = .float32(b, shape: [c2])
            var inputs = [first.inputs[0], wName, bName]
            if a2.residual, second.inputs.count > 3 { inputs.append(second.inputs[3]) }
            removed.insert(i)
            replacements[j] = Node(name: second.name, op: second.op, inputs: inputs, outputs: second.outputs)
            g.valueInfo[first.outputs[0]] = nil
            folded += 1
        }
        g.applyRewrites(removed: removed, replacements: replacements)
        return PassStats(pass: "PointwiseConvFolding", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: folded)
    }

    /// 1x1, stride 1, dilation 1, unpadded, one group (activation and residual not considered).
    static func isPointwiseGeometry(_ a: ConvAttrs) -> Bool {
        var plain = a
        plain.activation = .none
        plain.residual = false
        return PointwiseConvBeforeResize.isPlainPointwise(plain)
    }

    /// The conv's float32 weight [Cout, Cin, 1, 1] and its bias (nil: none), both initializers.
    private static func pointwiseWeights(_ n: Node, _ g: Graph) -> (Tensor, [Float]?)? {
        guard n.inputs.count >= 2, let w = g.initializers[n.inputs[1]], w.dtype == .float32, w.rank == 4,
              w.shape[2] == 1, w.shape[3] == 1, w.shape[0] > 0, w.shape[1] > 0 else { return nil }
        guard n.inputs.count > 2, !n.inputs[2].isEmpty else { return (w, nil) }
        guard let b = g.initializers[n.inputs[2]], b.dtype == .float32, b.shape == [w.shape[0]] else { return nil }
        return (w, b.scalars(as: Float.self))
    }

    /// W = W2 W1 and b = W2 b1 + b2, summed in double.
    static func fold(w1: [Float], b1: [Float]?, w2: [Float], b2: [Float]?, c0: Int, c1: Int, c2: Int) -> ([Float], [Float]) {
        var w = [Float](repeating: 0, count: c2 * c0), b = [Float](repeating: 0, count: c2)
        var row = [Double](repeating: 0, count: c0)
        for o in 0..<c2 {
            for t in 0..<c0 { row[t] = 0 }
            var bias = Double(b2?[o] ?? 0)
            for m in 0..<c1 {
                let f = Double(w2[o * c1 + m])
                for t in 0..<c0 { row[t] += f * Double(w1[m * c0 + t]) }
                if let b1 { bias += f * Double(b1[m]) }
            }
            for t in 0..<c0 { w[o * c0 + t] = Float(row[t]) }
            b[o] = Float(bias)
        }
        return (w, b)
    }
}
