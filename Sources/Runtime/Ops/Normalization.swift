/// LayerNormalization, Softmax (opset 13+: along one axis) and BatchNormalization (inference).
enum Normalization {
    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        let x = try Movement.input(inputs, 0)
        guard x.dtype == .float32 || x.dtype == .float16 else { throw OpError("needs float32 or float16, got \(x.dtype)") }
        switch op {
        case .softmax(let axis):
            _ = try Movement.normalizeAxis(axis, rank: x.shape.count)
        case .layerNorm(let axis, _):
            let a = try Movement.normalizeAxis(axis, rank: x.shape.count)
            let norm = Array(x.shape[a...])
            for i in 1...2 {
                guard i < inputs.count, let p = inputs[i] else {
                    if i == 1 { throw OpError("scale is missing") }
                    continue
                }
                guard p.dtype == .float32 || p.dtype == .float16 else { throw OpError("input \(i) has type \(p.dtype)") }
                guard (try? Broadcast.shape(p.shape, norm)) == norm else {
                    throw OpError("input \(i) shape \(p.shape) does not broadcast to the normalized shape \(norm)")
                }
            }
        case .batchNorm:
            guard x.shape.count >= 2 else { throw OpError("input rank \(x.shape.count) < 2") }
            for i in 1...4 {
                let p = try Movement.input(inputs, i)
                guard p.shape == [x.shape[1]] else { throw OpError("input \(i) shape \(p.shape), expected [\(x.shape[1])]") }
                guard p.dtype == .float32 || p.dtype == .float16 else { throw OpError("input \(i) has type \(p.dtype)") }
            }
        default:
            throw OpError("\(op.typeName) is not a normalization")
        }
        return [x.typed]
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        let x = try Movement.input(inputs, 0)
        guard let out = outputs.first else { throw OpError("no output") }
        switch op {
        case .softmax(let axis):
            let a = try Movement.normalizeAxis(axis, rank: x.shape.count)
            NormalizationKernels.softmax(x, axis: a, out, ctx)
        case .layerNorm(let axis, let eps):
            let a = try Movement.normalizeAxis(axis, rank: x.shape.count)
            let norm = Array(x.shape[a...])
            let scale = NormalizationKernels.floats(try Movement.input(inputs, 1), broadcastTo: norm)
            let bias = inputs.count > 2 ? inputs[2].map { NormalizationKernels.floats($0, broadcastTo: norm) } : nil
            NormalizationKernels.layerNorm(x, rowLength: Tensor.elementCount(norm), scale: scale, bias: bias, epsilon: eps, out, ctx)
        case .batchNorm(let eps):
            let c = x.shape[1]
            let p = try (1...4).map { NormalizationKernels.floats(try Movement.input(inputs, $0), broadcastTo: [c]) }
            NormalizationKernels.batchNorm(x, scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: eps, out, ctx)
        default:
            throw OpError("\(op.typeName) is not a normalization")
        }
    }
}
