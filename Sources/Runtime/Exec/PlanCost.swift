extension Plan {
    /// Multiply-add work of one run, counted as 2 FLOPs per multiply-add, for GEMM-like ops
    /// (matmul, gemm, linear, conv, conv-transpose). Elementwise work is not counted.
    public var flops: Double {
        var total = 0.0
        for step in steps {
            total += Plan.flops(graph.nodes[step.nodeIndex].op, inputs: step.inputs.map { $0.map { types[$0] } },
                                outputs: step.outputs.map { types[$0] })
        }
        return total
    }

    public static func flops(_ op: Op, inputs: [TypedShape?], outputs: [TypedShape]) -> Double {
        guard let out = outputs.first else { return 0 }
        switch op {
        case .matMul, .linear, .gemm, .qLinear:
            // K is the contracted size: last dim of A (or the first for gemm with transA).
            guard let a = inputs.first ?? nil, let k = a.shape.last else { return 0 }
            var kk = k
            if case .gemm(let g) = op, g.transA, a.shape.count == 2 { kk = a.shape[0] }
            return 2 * Double(out.count) * Double(kk)
        case .conv, .qConv:
            guard inputs.count > 1, let w = inputs[1] else { return 0 }
            return 2 * Double(out.count) * Double(w.shape.dropFirst().reduce(1, *))
        case .qConvTranspose:
            guard let x = inputs.first ?? nil, inputs.count > 1, let w = inputs[1], w.shape.count == 2 else { return 0 }
            return 2 * Double(x.count) * Double(w.shape[0])
        case .convTranspose:
            guard let x = inputs.first ?? nil, inputs.count > 1, let w = inputs[1] else { return 0 }
            return 2 * Double(x.count) * Double(w.shape.dropFirst().reduce(1, *))
        case .normalizedProjection:
            // The projection onto the features; resampling and norms are elementwise work.
            guard inputs.count > 1, let f = inputs[1], f.shape.count == 2 else { return 0 }
            return 2 * Double(out.count) * Double(f.shape[1])
        case .attention:
            // Scores and weighted sum: 2 N^2 D flops each per head and batch entry.
            guard let x = inputs.first ?? nil, x.shape.count == 3 else { return 0 }
            let n = Double(x.shape[1]), width = Double(x.shape[2]) / 3
            return 4 * Double(x.shape[0]) * n * n * width
        default:
            return 0
        }
    }
}
