import Runtime

/// Fuses the decomposed LayerNorm that exporters emit below opset 17 into `.layerNorm`:
///
///     m = ReduceMean(x, last axis); d = x - m; p = Pow(d, 2) or d * d; v = ReduceMean(p, last axis)
///     y = d / Sqrt(v + eps) * gamma + beta
///
/// matched structurally from the first ReduceMean, checking every constant (axes = the last axis
/// only, keepdims, exponent 2, eps a scalar, gamma and beta vectors over the last axis). Every
/// intermediate must feed only the pattern; beta may be absent.
public enum LayerNormFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "LayerNormFusion") { g, uses, i in
            match(g, uses, at: i, g.nodes[i])
        }
    }

    private static func match(_ g: Graph, _ uses: GraphUses, at i: Int, _ mean1: Node) -> FusedMatch? {
        guard mean1.inputs.count >= 1, mean1.outputs.count == 1 else { return nil }
        let x = mean1.inputs[0]
        let rank = g.knownShape(of: x)?.count
        guard isLastAxisMean(g, mean1, rank: rank) else { return nil }
        // d = x - m
        guard let subI = uses.soleConsumer(of: mean1.outputs[0]) else { return nil }
        let sub = g.nodes[subI]
        guard case .sub = sub.op, sub.inputs == [x, mean1.outputs[0]] else { return nil }
        let d = sub.outputs[0]
        // d feeds the square and the division, nothing else.
        let dUsers = uses.consumerNodes(of: d)
        guard dUsers.count == 2, !uses.graphOutputs.contains(d) else { return nil }
        var squareI: Int?, divI: Int?
        for u in dUsers {
            let un = g.nodes[u]
            switch un.op {
            case .pow where un.inputs.count == 2 && un.inputs[0] == d && ConstantValue.isScalar(g.initializers[un.inputs[1]], 2, relTol: 0):
                squareI = u
            case .mul where un.inputs == [d, d]:
                squareI = u
            case .div where un.inputs.count == 2 && un.inputs[0] == d:
                divI = u
            default:
                return nil
            }
        }
        guard let squareI, let divI else { return nil }
        // v = mean(d^2); e = v + eps; s = sqrt(e)
        guard let mean2I = uses.soleConsumer(of: g.nodes[squareI].outputs[0]) else { return nil }
        let mean2 = g.nodes[mean2I]
        guard isLastAxisMean(g, mean2, rank: rank) else { return nil }
        guard let addEpsI = uses.soleConsumer(of: mean2.outputs[0]) else { return nil }
        let addEps = g.nodes[addEpsI]
        guard case .add = addEps.op, addEps.inputs.count == 2 else { return nil }
        let epsName = addEps.inputs[0] == mean2.outputs[0] ? addEps.inputs[1] : addEps.inputs[0]
        guard let epsTensor = g.initializers[epsName], epsTensor.dtype.isFloat,
              let eps = ConstantValue.scalar(epsTensor), eps >= 0 else { return nil }
        guard let sqrtI = uses.soleConsumer(of: addEps.outputs[0]), case .sqrt = g.nodes[sqrtI].op,
              uses.soleConsumer(of: g.nodes[sqrtI].outputs[0]) == divI,
              g.nodes[divI].inputs[1] == g.nodes[sqrtI].outputs[0] else { return nil }
        // y = n * gamma (+ beta)
        let normalized = g.nodes[divI].outputs[0]
        guard let mulI = uses.soleConsumer(of: normalized) else { return nil }
        let mul = g.nodes[mulI]
        guard case .mul = mul.op, mul.inputs.count == 2 else { return nil }
        let gammaName = mul.inputs[0] == normalized ? mul.inputs[1] : mul.inputs[0]
        guard let gamma = g.initializers[gammaName], isChannelVector(gamma, g, x) else { return nil }
        var nodes = [i, subI, squareI, mean2I, addEpsI, sqrtI, divI, mulI]
        var inputs = [x, gammaName]
        var last = mulI
        if let addI = uses.soleConsumer(of: mul.outputs[0]), case .add = g.nodes[addI].op, g.nodes[addI].inputs.count == 2 {
            let add = g.nodes[addI]
            let betaName = add.inputs[0] == mul.outputs[0] ? add.inputs[1] : add.inputs[0]
            if let beta = g.initializers[betaName], isChannelVector(beta, g, x), beta.shape == gamma.shape {
                nodes.append(addI)
                inputs.append(betaName)
                last = addI
            }
        }
        let axis = rank.map { $0 - 1 } ?? -1
        let fusedNode = Node(name: g.nodes[last].name, op: .layerNorm(axis: axis, epsilon: Float(eps)),
                             inputs: inputs, outputs: g.nodes[last].outputs)
        return FusedMatch(nodes: nodes, last: last, node: fusedNode)
    }

    /// ReduceMean over exactly the last axis with keepdims, axes from the attribute or a constant input.
    private static func isLastAxisMean(_ g: Graph, _ n: Node, rank: Int?) -> Bool {
        guard case .reduce(.mean, let attrs) = n.op, attrs.keepDims, n.outputs.count == 1 else { return false }
        var axes = attrs.axes
        if n.inputs.count > 1 && !n.inputs[1].isEmpty {
            guard let t = g.initializers[n.inputs[1]], let v = t.integers() else { return false }
            axes = v
        }
        guard let axes, axes.count == 1 else { return false }
        return axes[0] == -1 || (rank != nil && axes[0] == rank! - 1)
    }

    /// A float vector [C] matching x's last dimension when that is known.
    private static func isChannelVector(_ t: Tensor, _ g: Graph, _ x: String) -> Bool {
        guard t.dtype.isFloat, t.rank == 1 else { return false }
        if let xShape = g.knownShape(of: x) {
            guard t.rank <= xShape.count, case .fixed(let c)? = xShape.last, c == t.shape.last! else { return false }
        }
        return true
    }
}
