import Runtime

/// Fuses CLIP's QuickGELU, x * sigmoid(1.702 x), into `.quickGelu` (operands in either order).
public enum QuickGeluFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        let before = g.nodes.count
        let uses = GraphUses(g)
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        var fused = 0
        for (i, n) in g.nodes.enumerated() {
            guard case .sigmoid = n.op, n.inputs.count == 1, n.outputs.count == 1,
                  let scaleI = uses.producer[n.inputs[0]], uses.isPrivate(n.inputs[0], to: i),
                  case .mul = g.nodes[scaleI].op,
                  let (x, c) = GeluFusion.operandAndConstant(g, g.nodes[scaleI]), ConstantValue.isScalar(c, 1.702),
                  let outI = uses.soleConsumer(of: n.outputs[0]), case .mul = g.nodes[outI].op else { continue }
            let out = g.nodes[outI]
            guard out.inputs.count == 2, Set(out.inputs) == Set([x, n.outputs[0]]),
                  ![scaleI, i, outI].contains(where: { removed.contains($0) || replacements[$0] != nil }) else { continue }
            removed.formUnion([scaleI, i])
            replacements[outI] = Node(name: out.name, op: .quickGelu, inputs: [x], outputs: out.outputs)
            fused += 1
        }
        g.applyRewrites(removed: removed, replacements: replacements)
        return PassStats(pass: "QuickGeluFusion", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: fused)
    }
}
