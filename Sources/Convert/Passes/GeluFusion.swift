import Runtime

/// Fuses the exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), into `.gelu(tanh: false)`, in the
/// forms exporters write it: the division as Div by sqrt 2 or Mul by 1/sqrt 2, the 0.5 applied
/// to x first, to (1 + erf) first, or to the product last, operands in either order.
public enum GeluFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "GeluFusion") { g, uses, i in
            guard case .erf = g.nodes[i].op, let m = match(g, uses, erfIndex: i) else { return nil }
            let last = g.nodes[m.last]
            return FusedMatch(nodes: m.nodes, last: m.last,
                              node: Node(name: last.name, op: .gelu(tanh: false), inputs: [m.x], outputs: last.outputs))
        }
    }

    private static func match(_ g: Graph, _ uses: GraphUses, erfIndex: Int) -> (x: String, nodes: [Int], last: Int)? {
        let erf = g.nodes[erfIndex]
        guard erf.inputs.count == 1, erf.outputs.count == 1, let scaleI = uses.producer[erf.inputs[0]],
              uses.isPrivate(erf.inputs[0], to: erfIndex) else { return nil }
        // x / sqrt(2) or x * (1 / sqrt(2))
        let scale = g.nodes[scaleI]
        let x: String
        switch scale.op {
        case .div where scale.inputs.count == 2 && ConstantValue.isScalar(g.initializers[scale.inputs[1]], 2.0.squareRoot()):
            x = scale.inputs[0]
        case .mul where scale.inputs.count == 2:
            guard let (v, c) = operandAndConstant(g, scale), ConstantValue.isScalar(c, 0.5.squareRoot()) else { return nil }
            x = v
        default:
            return nil
        }
        // 1 + erf
        guard let onePlusI = uses.soleConsumer(of: erf.outputs[0]), case .add = g.nodes[onePlusI].op,
              let (_, one) = operandAndConstant(g, g.nodes[onePlusI]), ConstantValue.isScalar(one, 1) else { return nil }
        let onePlus = g.nodes[onePlusI].outputs[0]
        guard let m1I = uses.soleConsumer(of: onePlus), case .mul = g.nodes[m1I].op, g.nodes[m1I].inputs.count == 2 else { return nil }
        let m1 = g.nodes[m1I]
        let other = m1.inputs[0] == onePlus ? m1.inputs[1] : m1.inputs[0]
        let head = [scaleI, erfIndex, onePlusI, m1I]
        if other == x {
            // (x * (1 + erf)) * 0.5
            guard let m2I = uses.soleConsumer(of: m1.outputs[0]), case .mul = g.nodes[m2I].op,
                  let (_, half) = operandAndConstant(g, g.nodes[m2I]), ConstantValue.isScalar(half, 0.5) else { return nil }
            return (x, head + [m2I], m2I)
        }
        if ConstantValue.isScalar(g.initializers[other], 0.5) {
            // ((1 + erf) * 0.5) * x
            guard let m2I = uses.soleConsumer(of: m1.outputs[0]), case .mul = g.nodes[m2I].op else { return nil }
            let m2 = g.nodes[m2I]
            guard m2.inputs.count == 2, (m2.inputs[0] == x) != (m2.inputs[1] == x) else { return nil }
            return (x, head + [m2I], m2I)
        }
        // (x * 0.5) * (1 + erf)
        guard let halfI = uses.producer[other], uses.isPrivate(other, to: m1I), case .mul = g.nodes[halfI].op,
              let (v, half) = operandAndConstant(g, g.nodes[halfI]), v == x, ConstantValue.isScalar(half, 0.5) else { return nil }
        return (x, head + [halfI], m1I)
    }

    /// For a binary node with one initializer operand: the other operand and the constant.
    static func operandAndConstant(_ g: Graph, _ n: Node) -> (String, Tensor)? {
        guard n.inputs.count == 2 else { return nil }
        if let c = g.initializers[n.inputs[1]], g.initializers[n.inputs[0]] == nil { return (n.inputs[0], c) }
        if let c = g.initializers[n.inputs[0]], g.initializers[n.inputs[1]] == nil { return (n.inputs[1], c) }
        return nil
    }
}
