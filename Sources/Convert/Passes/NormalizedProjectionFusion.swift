import Runtime

/// Fuses LSeg's head into `.normalizedProjection`: the image features (after an optional
/// bilinear Resize) are moved to channels-last, L2-normalized per pixel, flattened to pixels,
/// scaled by the logit scale, multiplied with the transposed text features, and moved back:
///
///     u = Resize(x)?                       x [1, C, h, w]; linear, constant scales or sizes
///     t = Transpose(u, perm 0,2,3,1)       [1, H, W, C]
///     s = ReduceSum(t*t or Pow(t, 2), last axis, keepdims) (+ eps)? -> Sqrt, or ReduceL2(t, last axis)
///     d = Div(t, Max/Clip(s, eps)? -> Expand?)
///     m = MatMul(Mul(scale)?(Reshape(Mul(scale)?(d), [-1 or H*W, C])), B)
///     y = Transpose(Reshape(m, [1, H, W, -1 or N]), perm 0,3,1,2)     [1, N, H, W]
///
/// B is Transpose(F, perm 1,0) of any [N, C] value F (a graph input in the two-tower split, the
/// text tower's output, or a constant), or a constant [C, N] (label-baked features once folded),
/// stored transposed for the op. Both exporters' forms match (TorchScript: Mul, ReduceSum, Sqrt,
/// Div with Reshape to [-1, C]; dynamo: ReduceL2, Div with Reshape to [H*W, C]). Every
/// intermediate must feed only the next step, every axis and shape must be the ones above with
/// batch 1 and fixed H, W, C, and every constant a scalar; otherwise the graph is left alone.
public enum NormalizedProjectionFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "NormalizedProjectionFusion") { g, uses, i in
            guard let m = match(g, uses, transposeAt: i) else { return nil }
            var fused = FusedMatch(nodes: m.nodes, last: m.last, node: m.node)
            if let constant = m.transposedFeatures {
                fused.prepare = { g, node in
                    let name = g.freshValueName("\(m.featuresName)_rows")
                    g.initializers[name] = constant
                    node.inputs[1] = name
                }
            }
            return fused
        }
    }

    struct Match {
        /// Nodes the fused node replaces; `last` produces the output it takes over.
        var nodes: [Int]
        var last: Int
        var node: Node
        /// Features given as a constant [C, N]: their [N, C] copy, to become a new initializer.
        var transposedFeatures: Tensor?
        var featuresName: String
    }

    /// The whole pattern, starting at the channels-last Transpose at node `i`.
    static func match(_ g: Graph, _ uses: GraphUses, transposeAt i: Int) -> Match? {
        let t1 = g.nodes[i]
        guard case .transpose(let perm1) = t1.op, perm1 == [0, 2, 3, 1], t1.inputs.count == 1, t1.outputs.count == 1 else { return nil }
        let t = t1.outputs[0]
        guard g.valueInfo[t]?.dtype == .float32, let tShape = fixedShape(g, t), tShape.count == 4, tShape[0] == 1 else { return nil }
        let (height, width, channels) = (tShape[1], tShape[2], tShape[3])
        guard height > 0, width > 0, channels > 0 else { return nil }
        var nodes = [i]

        // The optional upsample in front.
        var x = t1.inputs[0]
        var upsample: NormalizedProjectionAttrs.Upsample?
        if let ri = uses.producer[x], let up = self.upsample(g, g.nodes[ri], channels: channels),
           uses.soleConsumer(of: x) == i {
            upsample = up
            x = g.nodes[ri].inputs[0]
            nodes.append(ri)
        }
        guard let xShape = fixedShape(g, x), xShape.count == 4, xShape[0] == 1, xShape[1] == channels else { return nil }
        if upsample == nil { guard xShape[2] == height, xShape[3] == width else { return nil } }

        // t feeds the norm and the division, nothing else.
        let tUsers = uses.consumerNodes(of: t)
        guard tUsers.count == 2, !uses.graphOutputs.contains(t) else { return nil }
        guard let divI = tUsers.first(where: { g.nodes[$0].op == .div && g.nodes[$0].inputs.first == t }),
              let normStart = tUsers.first(where: { $0 != divI }) else { return nil }
        let div = g.nodes[divI]
        guard div.inputs.count == 2, div.outputs.count == 1, div.inputs[1] != t else { return nil }
        guard let norm = self.norm(g, uses, from: normStart, t: t, rank: 4, divisor: div.inputs[1], divI: divI) else { return nil }
        nodes += norm.nodes + [divI]

        // Scalar Muls around the Reshape to [pixels, C], then the MatMul.
        var scale: Double = 1
        var v = div.outputs[0]
        func scalarMul(_ value: String) -> (index: Int, factor: Double, output: String)? {
            guard let mi = uses.soleConsumer(of: value), case .mul = g.nodes[mi].op, g.nodes[mi].inputs.count == 2,
                  g.nodes[mi].outputs.count == 1 else { return nil }
            let m = g.nodes[mi]
            let other = m.inputs[0] == value ? m.inputs[1] : m.inputs[0]
            guard other != value, let c = g.initializers[other], c.dtype == .float32, c.rank <= 2,
                  let f = ConstantValue.scalar(c), f.isFinite else { return nil }
            return (mi, f, m.outputs[0])
        }
        if let m = scalarMul(v) { scale *= m.factor; v = m.output; nodes.append(m.index) }
        guard let r1I = uses.soleConsumer(of: v), case .reshape = g.nodes[r1I].op, g.nodes[r1I].inputs.count == 2,
              g.nodes[r1I].inputs[0] == v, let r1Shape = g.initializers[g.nodes[r1I].inputs[1]]?.integers(),
              r1Shape.count == 2, r1Shape[1] == channels, r1Shape[0] == -1 || r1Shape[0] == height * width else { return nil }
        nodes.append(r1I)
        v = g.nodes[r1I].outputs[0]
        if let m = scalarMul(v) { scale *= m.factor; v = m.output; nodes.append(m.index) }
        guard scale.isFinite, abs(scale) <= Double(Float.greatestFiniteMagnitude) else { return nil }

        guard let mmI = uses.soleConsumer(of: v) else { return nil }
        let mm = g.nodes[mmI]
        guard mm.outputs.count == 1, let features = self.features(g, uses, mm, a: v, channels: channels) else { return nil }
        nodes.append(mmI)

        // Back to [1, N, H, W].
        guard let r2I = uses.soleConsumer(of: mm.outputs[0]), case .reshape = g.nodes[r2I].op, g.nodes[r2I].inputs.count == 2,
              g.nodes[r2I].inputs[0] == mm.outputs[0], let r2Shape = g.initializers[g.nodes[r2I].inputs[1]]?.integers(),
              r2Shape.count == 4, r2Shape[0] == 1, r2Shape[1] == height, r2Shape[2] == width,
              r2Shape[3] == -1 || (features.labels != nil && r2Shape[3] == features.labels!) else { return nil }
        guard let t2I = uses.soleConsumer(of: g.nodes[r2I].outputs[0]), case .transpose(let perm2) = g.nodes[t2I].op,
              perm2 == [0, 3, 1, 2], g.nodes[t2I].outputs.count == 1 else { return nil }
        nodes += [r2I, t2I]

        let attrs = NormalizedProjectionAttrs(upsample: upsample, scale: Float(scale), normGuard: norm.guardKind)
        // The upsample must give exactly the size the Transpose saw.
        let probe = [ShapeInput(dtype: .float32, shape: xShape), ShapeInput(dtype: .float32, shape: [features.labels ?? 1, channels])]
        guard attrs.problem == nil, let out = try? Op.normalizedProjection(attrs).inferOutputs(probe, node: t1.name),
              out.count == 1, out[0].shape.count == 4, out[0].shape[2] == height, out[0].shape[3] == width else { return nil }
        let t2 = g.nodes[t2I]
        let node = Node(name: t2.name, op: .normalizedProjection(attrs), inputs: [x, features.name], outputs: t2.outputs)
        return Match(nodes: nodes, last: t2I, node: node, transposedFeatures: features.transposed, featuresName: features.name)
    }

    /// A linear Resize of the last two axes with constant scales [1, 1, sh, sw] or sizes [1, C, H, W].
    private static func upsample(_ g: Graph, _ r: Node, channels: Int) -> NormalizedProjectionAttrs.Upsample? {
        guard case .resize(let a) = r.op, a.mode == .linear, !a.antialias, a.axes.isEmpty || a.axes == [0, 1, 2, 3],
              a.coordinateTransformation != .tfCropAndResize, r.outputs.count == 1, r.inputs.count >= 3 else { return nil }
        let scalesName = r.inputs[2], sizesName = r.inputs.count > 3 ? r.inputs[3] : ""
        if !sizesName.isEmpty {
            guard scalesName.isEmpty || g.initializers[scalesName]?.count == 0,
                  let sizes = g.initializers[sizesName]?.integers(), sizes.count == 4, sizes[0] == 1, sizes[1] == channels else { return nil }
            return .init(coordinateTransformation: a.coordinateTransformation, sizes: [sizes[2], sizes[3]])
        }
        guard let t = g.initializers[scalesName], t.dtype == .float32, t.count == 4 else { return nil }
        let s = t.scalars(as: Float.self)
        guard s[0] == 1, s[1] == 1 else { return nil }
        return .init(coordinateTransformation: a.coordinateTransformation, scales: [s[2], s[3]])
    }

    struct Norm {
        var nodes: [Int]
        var guardKind: NormalizedProjectionAttrs.NormGuard
    }

    /// The per-pixel norm from its first node to the Div's divisor: sqrt(ReduceSum(t*t)) or
    /// ReduceL2(t) (or ReduceSumSquare then Sqrt), with an optional epsilon added before the
    /// root or a Max/Clip floor after it, and an optional Expand to t's shape.
    private static func norm(_ g: Graph, _ uses: GraphUses, from start: Int, t: String, rank: Int, divisor: String,
                             divI: Int) -> Norm? {
        var nodes: [Int] = []
        var guardKind = NormalizedProjectionAttrs.NormGuard.none
        let n = g.nodes[start]
        guard n.outputs.count == 1 else { return nil }
        var v: String
        func next(_ value: String) -> Node? {
            guard let i = uses.soleConsumer(of: value), i != divI else { return nil }
            nodes.append(i)
            return g.nodes[i]
        }
        /// Sqrt of v, with an optional scalar Add of epsilon before it.
        func rootWithEpsilon() -> String? {
            guard var s = next(v) else { return nil }
            var radicand = v
            if case .add = s.op {
                guard s.inputs.count == 2, s.outputs.count == 1, s.inputs.contains(v) else { return nil }
                let other = s.inputs[0] == v ? s.inputs[1] : s.inputs[0]
                guard other != v, let e = g.initializers[other].flatMap(ConstantValue.scalar), e >= 0, e.isFinite else { return nil }
                guardKind = .addToSquaredSum(epsilon: Float(e))
                radicand = s.outputs[0]
                guard let root = next(radicand) else { return nil }
                s = root
            }
            guard case .sqrt = s.op, s.inputs.first == radicand, s.outputs.count == 1 else { return nil }
            return s.outputs[0]
        }

        nodes.append(start)
        switch n.op {
        case .reduce(.l2, _):
            guard n.inputs.first == t, isLastAxis(g, n, rank: rank) else { return nil }
            v = n.outputs[0]
        case .reduce(.sumSquare, _):
            guard n.inputs.first == t, isLastAxis(g, n, rank: rank) else { return nil }
            v = n.outputs[0]
            guard let r = rootWithEpsilon() else { return nil }
            v = r
        case .mul, .pow:
            if case .mul = n.op { guard n.inputs == [t, t] else { return nil } }
            if case .pow = n.op {
                guard n.inputs.count == 2, n.inputs[0] == t, ConstantValue.isScalar(g.initializers[n.inputs[1]], 2, relTol: 0) else { return nil }
            }
            guard let sum = next(n.outputs[0]), case .reduce(.sum, _) = sum.op, sum.inputs.first == n.outputs[0],
                  sum.outputs.count == 1, isLastAxis(g, sum, rank: rank) else { return nil }
            v = sum.outputs[0]
            guard let r = rootWithEpsilon() else { return nil }
            v = r
        default:
            return nil
        }

        // An optional floor on the norm (only when no epsilon was added before the root).
        if v != divisor, let i = uses.soleConsumer(of: v), i != divI {
            let f = g.nodes[i]
            var floor: Double?
            switch f.op {
            case .max where f.inputs.count == 2 && f.outputs.count == 1:
                let other = f.inputs[0] == v ? f.inputs[1] : f.inputs[0]
                if other != v { floor = g.initializers[other].flatMap(ConstantValue.scalar) }
            case .clip where f.inputs.count >= 2 && f.inputs[0] == v && f.outputs.count == 1 && (f.inputs.count == 2 || f.inputs[2].isEmpty):
                floor = g.initializers[f.inputs[1]].flatMap(ConstantValue.scalar)
            default:
                break
            }
            if let floor {
                guard guardKind == .none, floor >= 0, floor.isFinite else { return nil }
                guardKind = .clampNorm(epsilon: Float(floor))
                nodes.append(i)
                v = f.outputs[0]
            }
        }
        // An optional Expand to t's shape (torch's expand_as).
        if v != divisor, let i = uses.soleConsumer(of: v), i != divI, case .expand = g.nodes[i].op {
            let e = g.nodes[i]
            guard e.inputs.first == v, e.outputs.count == 1, let es = fixedShape(g, e.outputs[0]), es == fixedShape(g, t) else { return nil }
            nodes.append(i)
            v = e.outputs[0]
        }
        guard v == divisor, uses.soleConsumer(of: v) == divI else { return nil }
        return Norm(nodes: nodes, guardKind: guardKind)
    }

    /// A reduction over exactly the last axis with keepdims, axes from the attribute or a constant input.
    private static func isLastAxis(_ g: Graph, _ n: Node, rank: Int) -> Bool {
        guard case .reduce(_, let attrs) = n.op, attrs.keepDims, n.outputs.count == 1 else { return false }
        var axes = attrs.axes
        if n.inputs.count > 1 && !n.inputs[1].isEmpty {
            guard let v = g.initializers[n.inputs[1]]?.integers() else { return false }
            axes = v
        }
        guard let axes, axes.count == 1 else { return false }
        return axes[0] == -1 || axes[0] == rank - 1
    }

    struct Features {
        /// The [N, C] value the op reads (or the constant [C, N] it is transposed from).
        var name: String
        var labels: Int?
        var transposed: Tensor?
    }

    /// The text features behind MatMul(a, B): B = Transpose(F [N, C], perm 1,0), or a constant [C, N].
    private static func features(_ g: Graph, _ uses: GraphUses, _ mm: Node, a: String, channels: Int) -> Features? {
        guard mm.op == .matMul, mm.inputs.count == 2, mm.inputs[0] == a, mm.inputs[1] != a else { return nil }
        let b = mm.inputs[1]
        if let w = g.initializers[b] {
            guard w.dtype == .float32, w.rank == 2, w.shape[0] == channels, w.quant == nil else { return nil }
            let n = w.shape[1]
            let src = w.scalars(as: Float.self)
            var rows = [Float](repeating: 0, count: src.count)
            for c in 0..<channels { for j in 0..<n { rows[j * channels + c] = src[c * n + j] } }
            return Features(name: b, labels: n, transposed: .float32(rows, shape: [n, channels]))
        }
        guard let ti = uses.producer[b], case .transpose(let perm) = g.nodes[ti].op, perm == [1, 0],
              g.nodes[ti].inputs.count == 1 else { return nil }
        let f = g.nodes[ti].inputs[0]
        guard let fShape = g.knownShape(of: f), fShape.count == 2, fShape[1].value == channels,
              g.valueInfo[f]?.dtype ?? g.inputs.first(where: { $0.name == f })?.dtype ?? g.initializers[f]?.dtype == .float32 else { return nil }
        return Features(name: f, labels: fShape[0].value, transposed: nil)
    }

    /// A value's shape when every dimension is known.
    private static func fixedShape(_ g: Graph, _ name: String) -> [Int]? {
        guard let dims = g.knownShape(of: name) else { return nil }
        let v = dims.compactMap(\.value)
        return v.count == dims.count ? v : nil
    }
}
