import Runtime

/// Moves an activation that directly follows a Conv or Linear into the producer's
/// `activation` attribute, when the pre-activation value has no other reader and is not a
/// graph output. Fuses Relu, LeakyRelu, exact GELU and QuickGELU (what `Activation` expresses).
public enum ActivationFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        g.fuse(pass: "ActivationFusion") { g, uses, i in
            let n = g.nodes[i]
            guard n.outputs.count == 1, let actI = uses.soleConsumer(of: n.outputs[0]), let activation = activation(of: g.nodes[actI].op),
                  g.nodes[actI].inputs == [n.outputs[0]], g.nodes[actI].outputs.count == 1 else { return nil }
            var op = n.op
            switch op {
            case .conv(var a) where a.activation == .none:
                a.activation = activation
                op = .conv(a)
            case .linear(var a) where a.activation == .none:
                a.activation = activation
                op = .linear(a)
            default:
                return nil
            }
            return FusedMatch(nodes: [i, actI], last: actI, node: Node(name: n.name, op: op, inputs: n.inputs, outputs: g.nodes[actI].outputs))
        }
    }

    private static func activation(of op: Op) -> Activation? {
        switch op {
        case .relu: return .relu
        case .leakyRelu(let alpha): return .leakyRelu(alpha: alpha)
        case .gelu(let tanh): return tanh ? nil : .gelu
        case .quickGelu: return .quickGelu
        default: return nil
        }
    }
}
