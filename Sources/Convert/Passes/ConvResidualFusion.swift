import Runtime

/// Folds the elementwise work around a convolution into it (ConvAttrs.preActivation and
/// .residual), so the runtime neither writes nor re-reads a full feature map for it:
/// - Relu -> Conv, when the Relu's output is read by that Conv alone: the Conv reads the Relu's
///   input with `preActivation: .relu` (the Winograd input transform applies it as it reads).
/// - Conv -> Add, when the Conv's output is read by that Add alone and the Add's other operand
///   has exactly the output's shape (no broadcast): the operand becomes the Conv's fourth input,
///   `residual`, added before the Conv's activation. A Conv that already has an activation keeps
///   its Add (the activation would come before the sum).
/// DPT's residual units are Relu -> Conv -> Relu -> Conv -> Add(x): the second Relu is the first
/// Conv's activation (ActivationFusion), the other two ops fold here. A Relu after the fused Add
/// folds in turn as the activation.
public enum ConvResidualFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        let pre = g.fuse(pass: "ConvResidualFusion") { g, uses, i in preRelu(g, uses, i) }
        let res = g.fuse(pass: "ConvResidualFusion") { g, uses, i in residual(g, uses, i) }
        return PassStats(pass: "ConvResidualFusion", nodesBefore: pre.nodesBefore, nodesAfter: res.nodesAfter,
                         rewrites: pre.rewrites + res.rewrites)
    }

    private static func preRelu(_ g: Graph, _ uses: GraphUses, _ i: Int) -> FusedMatch? {
        let relu = g.nodes[i]
        guard relu.op == .relu, relu.inputs.count == 1, !relu.inputs[0].isEmpty, relu.outputs.count == 1,
              let ci = uses.soleConsumer(of: relu.outputs[0]) else { return nil }
        let conv = g.nodes[ci]
        guard case .conv(var a) = conv.op, a.preActivation == .none, conv.inputs.first == relu.outputs[0],
              conv.inputs.dropFirst().allSatisfy({ $0 != relu.outputs[0] }) else { return nil }
        a.preActivation = .relu
        var inputs = conv.inputs
        inputs[0] = relu.inputs[0]
        return FusedMatch(nodes: [i, ci], last: ci, node: Node(name: conv.name, op: .conv(a), inputs: inputs, outputs: conv.outputs))
    }

    private static func residual(_ g: Graph, _ uses: GraphUses, _ i: Int) -> FusedMatch? {
        let conv = g.nodes[i]
        guard case .conv(var a) = conv.op, a.activation == .none, !a.residual, conv.outputs.count == 1,
              (2...3).contains(conv.inputs.count), let ai = uses.soleConsumer(of: conv.outputs[0]) else { return nil }
        let add = g.nodes[ai]
        guard add.op == .add, add.inputs.count == 2, add.outputs.count == 1 else { return nil }
        let y = conv.outputs[0]
        let other: String
        switch (add.inputs[0] == y, add.inputs[1] == y) {
        case (true, false): other = add.inputs[1]
        case (false, true): other = add.inputs[0]
        default: return nil
        }
        // Same type and shape as the conv's output, known: then the Add broadcasts nothing.
        guard !other.isEmpty, let yInfo = g.valueInfo[y], let rInfo = g.valueInfo[other], let outInfo = g.valueInfo[add.outputs[0]],
              yInfo.dtype == .float32, rInfo.dtype == .float32, let shape = yInfo.shape, !shape.isEmpty,
              rInfo.shape == shape, outInfo.shape == shape else { return nil }
        a.residual = true
        var inputs = conv.inputs
        if inputs.count == 2 { inputs.append("") }
        inputs.append(other)
        return FusedMatch(nodes: [i, ai], last: ai, node: Node(name: conv.name, op: .conv(a), inputs: inputs, outputs: add.outputs))
    }
}
