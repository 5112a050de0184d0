/// Reduce* (mean, sum, max, min, prod, L1, L2, sum of squares, log-sum-exp) and ArgMax.
enum Reduction {
    /// The reduced axes (sorted, non-negative), or nil for "no reduction" (empty axes with
    /// noop_with_empty_axes).
    static func axes(_ attrs: ReduceAttrs, fromInput: [Int]?, rank: Int) throws -> [Int]? {
        let given = attrs.axes ?? fromInput ?? []
        if given.isEmpty { return attrs.noopWithEmptyAxes ? nil : Array(0..<rank) }
        return try Movement.normalizeAxes(given, rank: rank).sorted()
    }

    static func reducedShape(_ shape: [Int], axes: [Int], keepDims: Bool) -> [Int] {
        var out: [Int] = []
        for (d, n) in shape.enumerated() {
            if axes.contains(d) { if keepDims { out.append(1) } } else { out.append(n) }
        }
        return out
    }

    static func supported(_ t: DType) throws {
        switch t {
        case .float32, .float16, .int64, .int32: return
        default: throw OpError("type \(t) is not supported (float32, float16, int64, int32)")
        }
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        let x = try Movement.input(inputs, 0)
        try supported(x.dtype)
        switch op {
        case .reduce(_, let attrs):
            let fromInput = attrs.axes == nil ? try Movement.values(inputs, 1, "axes") : nil
            guard let ax = try axes(attrs, fromInput: fromInput, rank: x.shape.count) else { return [x.typed] }
            return [TypedShape(x.dtype, reducedShape(x.shape, axes: ax, keepDims: attrs.keepDims))]
        case .argMax(let axis, let keepDims, _):
            let a = try Movement.normalizeAxis(axis, rank: x.shape.count)
            guard x.shape[a] > 0 else { throw OpError("ArgMax over an empty axis \(a)") }
            return [TypedShape(.int64, reducedShape(x.shape, axes: [a], keepDims: keepDims))]
        default:
            throw OpError("\(op.typeName) is not a reduction")
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        let x = try Movement.input(inputs, 0)
        guard let out = outputs.first else { throw OpError("no output") }
        switch op {
        case .reduce(let kind, let attrs):
            let fromInput = attrs.axes == nil ? try Movement.values(inputs, 1, "axes") : nil
            guard let ax = try axes(attrs, fromInput: fromInput, rank: x.shape.count) else {
                ElementwiseKernels.copyIfNeeded(x, out)
                return
            }
            try ReductionKernels.reduce(kind, x, axes: ax, out, ctx)
        case .argMax(let axis, _, let last):
            let a = try Movement.normalizeAxis(axis, rank: x.shape.count)
            try ReductionKernels.argMax(x, axis: a, selectLast: last, out, ctx)
        default:
            throw OpError("\(op.typeName) is not a reduction")
        }
    }
}
