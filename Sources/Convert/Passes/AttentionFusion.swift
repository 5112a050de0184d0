import Runtime

/// Fuses a ViT's multi-head self-attention over a fused qkv projection into `.attention`:
///
///     r  = Reshape(qkv, [B, N, 3, H, D])            qkv [B, N, 3C], C = H D
///     t  = Transpose(r, perm 2,0,3,1,4)             [3, B, H, N, D]
///     q, k, v = Gather(t, 0 | 1 | 2, axis 0)        [B, H, N, D] each
///     s  = MatMul(q', Transpose(k', perm 0,1,3,2))  q', k': q, k, each optionally times a scalar
///     p  = Softmax(s', last axis)                   s': s optionally times or divided by a scalar
///     o  = MatMul(p, v)                             [B, H, N, D]
///     y  = Reshape(Transpose(o, perm 0,2,1,3), [B, N, C])
///
/// becomes y = Attention(qkv, heads H, scale = the product of the scalars). Both exporters' forms
/// match (TorchScript and dynamo both select q, k, v with Gather). Every intermediate must feed
/// only the next step (t exactly the three Gathers), every shape must be fixed and as above, every
/// constant a finite scalar; anything else (a mask added to the scores, another softmax axis, a
/// second reader of the scores) leaves the graph alone. CLIP's text attention (causal mask added
/// to the scores) therefore keeps its unfused form and its bit-exact causal truncation.
public enum AttentionFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "AttentionFusion") { g, uses, i in
            match(g, uses, softmaxAt: i)
        }
    }

    /// The whole pattern around the Softmax at node `i`.
    static func match(_ g: Graph, _ uses: GraphUses, softmaxAt i: Int) -> FusedMatch? {
        let sm = g.nodes[i]
        guard case .softmax(let axis) = sm.op, sm.inputs.count == 1, sm.outputs.count == 1,
              let sShape = fixedShape(g, sm.inputs[0]), sShape.count == 4, axis == -1 || axis == 3 else { return nil }
        var nodes = [i]
        var scale = 1.0

        // Back from the softmax input through an optional scalar Mul/Div to the scores MatMul.
        var scores = sm.inputs[0]
        guard uses.soleConsumer(of: scores) == i else { return nil }
        if let m = scalarStep(g, uses, producing: scores, divideAllowed: true) {
            scale *= m.factor; scores = m.input; nodes.append(m.index)
            guard uses.soleConsumer(of: scores) == m.index else { return nil }
        }
        guard let mm1I = uses.producer[scores], g.nodes[mm1I].op == .matMul, g.nodes[mm1I].inputs.count == 2,
              g.nodes[mm1I].outputs.count == 1 else { return nil }
        nodes.append(mm1I)
        var qValue = g.nodes[mm1I].inputs[0], ktValue = g.nodes[mm1I].inputs[1]
        guard qValue != ktValue, uses.soleConsumer(of: qValue) == mm1I, uses.soleConsumer(of: ktValue) == mm1I else { return nil }
        if let m = scalarStep(g, uses, producing: qValue, divideAllowed: false) {
            scale *= m.factor; qValue = m.input; nodes.append(m.index)
            guard uses.soleConsumer(of: qValue) == m.index else { return nil }
        }
        if let m = scalarStep(g, uses, producing: ktValue, divideAllowed: false) {
            scale *= m.factor; ktValue = m.input; nodes.append(m.index)
            guard uses.soleConsumer(of: ktValue) == m.index else { return nil }
        }
        guard let ktI = uses.producer[ktValue], case .transpose(let kPerm) = g.nodes[ktI].op, kPerm == [0, 1, 3, 2],
              g.nodes[ktI].inputs.count == 1, g.nodes[ktI].outputs.count == 1 else { return nil }
        nodes.append(ktI)
        var kValue = g.nodes[ktI].inputs[0]
        guard uses.soleConsumer(of: kValue) == ktI else { return nil }
        if let m = scalarStep(g, uses, producing: kValue, divideAllowed: false) {
            scale *= m.factor; kValue = m.input; nodes.append(m.index)
            guard uses.soleConsumer(of: kValue) == m.index else { return nil }
        }

        // Forward from the softmax: P V, back to [B, N, H, D], then [B, N, C].
        let p = sm.outputs[0]
        guard let mm2I = uses.soleConsumer(of: p), g.nodes[mm2I].op == .matMul, g.nodes[mm2I].inputs.count == 2,
              g.nodes[mm2I].inputs[0] == p, g.nodes[mm2I].outputs.count == 1 else { return nil }
        let vValue = g.nodes[mm2I].inputs[1]
        guard vValue != p, uses.soleConsumer(of: vValue) == mm2I else { return nil }
        guard let otI = uses.soleConsumer(of: g.nodes[mm2I].outputs[0]), case .transpose(let oPerm) = g.nodes[otI].op,
              oPerm == [0, 2, 1, 3], g.nodes[otI].outputs.count == 1 else { return nil }
        guard let orI = uses.soleConsumer(of: g.nodes[otI].outputs[0]), case .reshape = g.nodes[orI].op,
              g.nodes[orI].inputs.first == g.nodes[otI].outputs[0], g.nodes[orI].outputs.count == 1 else { return nil }
        nodes += [mm2I, otI, orI]

        // q, k, v: Gathers 0, 1, 2 of one Transpose of one Reshape of the packed qkv.
        guard let qG = selection(g, uses, qValue), let kG = selection(g, uses, kValue), let vG = selection(g, uses, vValue),
              qG.index == 0, kG.index == 1, vG.index == 2, qG.source == kG.source, kG.source == vG.source else { return nil }
        let t = qG.source
        guard let tI = uses.producer[t], case .transpose(let tPerm) = g.nodes[tI].op, tPerm == [2, 0, 3, 1, 4],
              g.nodes[tI].inputs.count == 1, g.nodes[tI].outputs.count == 1, !uses.graphOutputs.contains(t),
              Set(uses.consumerNodes(of: t)) == Set([qG.node, kG.node, vG.node]), uses.consumerNodes(of: t).count == 3 else { return nil }
        let r = g.nodes[tI].inputs[0]
        guard let rI = uses.producer[r], case .reshape = g.nodes[rI].op, g.nodes[rI].outputs.count == 1,
              uses.soleConsumer(of: r) == tI else { return nil }
        let qkv = g.nodes[rI].inputs[0]
        nodes += [qG.node, kG.node, vG.node, tI, rI]

        // Shapes: qkv [B, N, 3C] -> [B, N, 3, H, D]; scores [B, H, N, N]; output [B, N, C].
        guard g.valueInfo[qkv]?.dtype ?? g.inputs.first(where: { $0.name == qkv })?.dtype == .float32,
              let qkvShape = fixedShape(g, qkv), qkvShape.count == 3,
              let rShape = fixedShape(g, r), rShape.count == 5 else { return nil }
        let (b, n, heads, d) = (rShape[0], rShape[1], rShape[3], rShape[4])
        guard b > 0, n > 0, heads > 0, d > 0, rShape[2] == 3, qkvShape == [b, n, 3 * heads * d],
              sShape == [b, heads, n, n], fixedShape(g, g.nodes[orI].outputs[0]) == [b, n, heads * d] else { return nil }
        guard scale.isFinite, abs(scale) <= Double(Float.greatestFiniteMagnitude) else { return nil }

        let attrs = AttentionAttrs(heads: heads, scale: Float(scale))
        guard attrs.problem == nil else { return nil }
        let out = g.nodes[orI]
        let node = Node(name: sm.name, op: .attention(attrs), inputs: [qkv], outputs: out.outputs)
        return FusedMatch(nodes: nodes, last: orI, node: node)
    }

    /// A Mul by (or, when allowed, Div by) a finite scalar constant producing `value`.
    private static func scalarStep(_ g: Graph, _ uses: GraphUses, producing value: String,
                                   divideAllowed: Bool) -> (index: Int, factor: Double, input: String)? {
        guard let i = uses.producer[value], g.nodes[i].inputs.count == 2, g.nodes[i].outputs.count == 1 else { return nil }
        let n = g.nodes[i]
        switch n.op {
        case .mul:
            for (x, c) in [(n.inputs[0], n.inputs[1]), (n.inputs[1], n.inputs[0])] {
                if g.initializers[x] == nil, let f = constantScalar(g, c), f.isFinite { return (i, f, x) }
            }
            return nil
        case .div where divideAllowed:
            guard g.initializers[n.inputs[0]] == nil, let f = constantScalar(g, n.inputs[1]), f.isFinite, f != 0 else { return nil }
            return (i, 1 / f, n.inputs[0])
        default:
            return nil
        }
    }

    private static func constantScalar(_ g: Graph, _ name: String) -> Double? {
        guard let c = g.initializers[name], c.dtype == .float32, c.quant == nil, c.rank <= 4 else { return nil }
        return ConstantValue.scalar(c)
    }

    /// `value` = Gather(source, constant scalar index, axis 0); the index normalised to 0...2.
    private static func selection(_ g: Graph, _ uses: GraphUses, _ value: String) -> (node: Int, source: String, index: Int)? {
        guard let i = uses.producer[value], case .gather(let axis) = g.nodes[i].op, g.nodes[i].inputs.count == 2,
              g.nodes[i].outputs.count == 1, let idx = g.initializers[g.nodes[i].inputs[1]], idx.rank == 0,
              let k = idx.integers()?.first, (-3...2).contains(k) else { return nil }
        guard axis == 0 || axis == -5 else { return nil }
        return (i, g.nodes[i].inputs[0], Int(k < 0 ? k + 3 : k))
    }

    /// A value's shape when every dimension is known.
    private static func fixedShape(_ g: Graph, _ name: String) -> [Int]? {
        guard let dims = g.knownShape(of: name) else { return nil }
        let v = dims.compactMap(\.value)
        return v.count == dims.count ? v : nil
    }
}
