import Runtime

/// Fuses CLIP's QuickGELU, x * sigmoid(1.702 x), into `.quickGelu` (operands in either order).
public enum QuickGeluFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "QuickGeluFusion") { g, uses, i in
            let n = g.nodes[i]
            guard case .sigmoid = n.op, n.inputs.count == 1, n.outputs.count == 1,
                  let scaleI = uses.producer[n.inputs[0]], uses.isPrivate(n.inputs[0], to: i),
                  case .mul = g.nodes[scaleI].op,
                  let (x, c) = GeluFusion.operandAndConstant(g, g.nodes[scaleI]), ConstantValue.isScalar(c, 1.702),
                  let outI = uses.soleConsumer(of: n.outputs[0]), case .mul = g.nodes[outI].op else { return nil }
            let out = g.nodes[outI]
            guard out.inputs.count == 2, Set(out.inputs) == Set([x, n.outputs[0]]) else { return nil }
            return FusedMatch(nodes: [scaleI, i, outI], last: outI, node: Node(name: out.name, op: .quickGelu, inputs: [x], outputs: out.outputs))
        }
    }
}
