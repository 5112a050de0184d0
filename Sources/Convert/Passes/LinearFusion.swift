import Runtime

/// Fuses a matrix product with a constant weight and its bias into `.linear`:
/// - MatMul(x, W[K, N]) followed by Add(·, b[N]) (either operand order; b may be [1, ..., 1, N]);
/// - Gemm(A, B, C) with constant B, alpha = beta = 1, no transA and C absent or a constant [N]
///   (transB carries over, which keeps attention in-projections in their exported layout).
/// x must be known to have rank >= 2 (from shape inference), as MatMul treats a vector differently.
public enum LinearFusion {
    public static func run(_ g: inout Graph) -> PassStats {
        let before = g.nodes.count
        let uses = GraphUses(g)
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        var newInitializers: [String: Tensor] = [:]
        var fused = 0
        for (i, n) in g.nodes.enumerated() where replacements[i] == nil && !removed.contains(i) {
            switch n.op {
            case .matMul:
                guard n.inputs.count == 2, n.outputs.count == 1,
                      let w = g.initializers[n.inputs[1]], w.rank == 2,
                      let xShape = g.knownShape(of: n.inputs[0]), xShape.count >= 2,
                      let addIndex = uses.soleConsumer(of: n.outputs[0]), replacements[addIndex] == nil,
                      !removed.contains(addIndex) else { continue }
                let add = g.nodes[addIndex]
                guard case .add = add.op, add.inputs.count == 2 else { continue }
                let biasName = add.inputs[0] == n.outputs[0] ? add.inputs[1] : add.inputs[0]
                guard biasName != n.outputs[0], let b = g.initializers[biasName], b.dtype == w.dtype,
                      b.shape.last == w.shape[1], b.shape.dropLast().allSatisfy({ $0 == 1 }),
                      b.rank <= xShape.count else { continue }
                var biasInput = biasName
                if b.rank != 1 {
                    biasInput = freshName(g, newInitializers, "\(biasName)_vector")
                    newInitializers[biasInput] = Tensor(dtype: b.dtype, shape: [w.shape[1]], storage: b.storage, quant: b.quant)
                }
                removed.insert(i)
                replacements[addIndex] = Node(name: add.name, op: .linear(LinearAttrs(transB: false)),
                                              inputs: [n.inputs[0], n.inputs[1], biasInput], outputs: add.outputs)
                fused += 1
            case .gemm(let a):
                guard a.alpha == 1, a.beta == 1, !a.transA, n.inputs.count >= 2,
                      let w = g.initializers[n.inputs[1]], w.rank == 2 else { continue }
                var inputs = [n.inputs[0], n.inputs[1]]
                if n.inputs.count > 2 && !n.inputs[2].isEmpty {
                    let outFeatures = a.transB ? w.shape[0] : w.shape[1]
                    guard let c = g.initializers[n.inputs[2]], c.rank == 1, c.shape[0] == outFeatures,
                          c.dtype == w.dtype else { continue }
                    inputs.append(n.inputs[2])
                }
                replacements[i] = Node(name: n.name, op: .linear(LinearAttrs(transB: a.transB)), inputs: inputs, outputs: n.outputs)
                fused += 1
            default:
                continue
            }
        }
        for (k, v) in newInitializers { g.initializers[k] = v }
        g.applyRewrites(removed: removed, replacements: replacements)
        return PassStats(pass: "LinearFusion", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: fused)
    }

    private static func freshName(_ g: Graph, _ pending: [String: Tensor], _ base: String) -> String {
        var name = g.freshValueName(base)
        var k = 1
        while pending[name] != nil { name = g.freshValueName("\(base)_\(k)"); k += 1 }
        return name
    }
}
