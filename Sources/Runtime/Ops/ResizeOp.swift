import CKernels

/// Resize (opsets 13-19, with the `axes` attribute of 18+): nearest, linear (N-D) and cubic.
/// Linear over the last two axes takes the C bilinear kernel; everything else the separable
/// per-axis tap tables in ResizeKernels.
enum ResizeOp {
    /// Output shape and the per-axis scale and roi the coordinate transforms use.
    struct Plan: Equatable {
        var input: [Int]
        var output: [Int]
        var scales: [Float]
        var roiStart: [Float]
        var roiEnd: [Float]
    }

    /// `scales` and `sizes` are the values of inputs 2 and 3 (nil or empty when omitted).
    static func plan(_ x: [Int], roi: [Float]?, scales: [Float]?, sizes: [Int]?, _ attrs: ResizeAttrs) throws -> Plan {
        let rank = x.count
        guard rank >= 1 else { throw OpError("Resize input must have rank >= 1") }
        let axes = attrs.axes.isEmpty ? Array(0..<rank) : attrs.axes.map { $0 < 0 ? $0 + rank : $0 }
        guard axes.allSatisfy({ (0..<rank).contains($0) }), Set(axes).count == axes.count else {
            throw OpError("Resize axes \(attrs.axes) are invalid for rank \(rank)")
        }
        guard !attrs.antialias else { throw OpError("Resize antialias is not supported") }
        var p = Plan(input: x, output: x, scales: Array(repeating: 1, count: rank),
                     roiStart: Array(repeating: 0, count: rank), roiEnd: Array(repeating: 1, count: rank))
        if attrs.coordinateTransformation == .tfCropAndResize {
            guard let roi, roi.count == 2 * axes.count else {
                throw OpError("tf_crop_and_resize needs roi with \(2 * axes.count) values (got \(roi?.count ?? 0))")
            }
            for (i, a) in axes.enumerated() { p.roiStart[a] = roi[i]; p.roiEnd[a] = roi[axes.count + i] }
        }
        if let sizes, !sizes.isEmpty {
            guard sizes.count == axes.count else { throw OpError("Resize sizes has \(sizes.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                guard sizes[i] >= 0, sizes[i] <= Int(Int32.max) else { throw OpError("Resize size \(sizes[i]) on axis \(a) is out of range") }
                guard x[a] > 0 || sizes[i] == 0 else { throw OpError("Resize cannot grow empty axis \(a) to \(sizes[i])") }
                p.output[a] = sizes[i]
                p.scales[a] = x[a] > 0 ? Float(sizes[i]) / Float(x[a]) : 1
            }
        } else if let scales, !scales.isEmpty {
            guard scales.count == axes.count else { throw OpError("Resize scales has \(scales.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                let s = scales[i]
                guard s > 0, s.isFinite else { throw OpError("Resize scale \(s) on axis \(a) must be positive") }
                // ONNX: floor(input * (roi extent) * scale), computed in float as ONNX Runtime does.
                let extent = attrs.coordinateTransformation == .tfCropAndResize ? p.roiEnd[a] - p.roiStart[a] : 1
                let size = (Float(x[a]) * extent * s).rounded(.down)
                guard size >= 0, size <= Float(Int32.max) else { throw OpError("Resize output size \(size) on axis \(a) is out of range") }
                p.output[a] = Int(size)
                p.scales[a] = s
            }
        } else {
            throw OpError("Resize needs either scales or sizes")
        }
        return p
    }

    private static func floats(_ t: Tensor) throws -> [Float] {
        switch t.dtype {
        case .float32: return t.scalars(as: Float.self)
        case .float64: return t.scalars(as: Double.self).map { Float($0) }
        case .float16: return t.scalars(as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
        default: throw OpError("Resize scales/roi must be a float tensor (got \(t.dtype))")
        }
    }

    private static func floats(_ v: TensorView) throws -> [Float] {
        switch v.dtype {
        case .float32: return Array(UnsafeBufferPointer(start: v.pointer(Float.self), count: v.count))
        case .float64: return UnsafeBufferPointer(start: v.pointer(Double.self), count: v.count).map { Float($0) }
        case .float16: return UnsafeBufferPointer(start: v.pointer(UInt16.self), count: v.count).map { Float(Float16(bitPattern: $0)) }
        default: throw OpError("Resize scales/roi must be a float tensor (got \(v.dtype))")
        }
    }

    private static func ints(_ v: TensorView) throws -> [Int] {
        switch v.dtype {
        case .int64: return UnsafeBufferPointer(start: v.pointer(Int64.self), count: v.count).map { Int($0) }
        case .int32: return UnsafeBufferPointer(start: v.pointer(Int32.self), count: v.count).map { Int($0) }
        default: throw OpError("Resize sizes must be int64 (got \(v.dtype))")
        }
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard case .resize(let attrs) = op else { throw OpError("\(op.typeName) is not Resize") }
        guard let x = inputs.first ?? nil else { throw OpError("Resize needs an input") }
        guard x.dtype == .float32 else { throw OpError("Resize supports float32 only (got \(x.dtype))") }
        func known(_ i: Int, _ name: String) throws -> Tensor? {
            guard i < inputs.count, let v = inputs[i], Tensor.elementCount(v.shape) > 0 else { return nil }
            guard let value = v.value else { throw OpError("Resize \(name) must be known before running") }
            return value
        }
        let roi = attrs.coordinateTransformation == .tfCropAndResize ? try known(1, "roi").map(floats) : nil
        let scales = try known(2, "scales").map(floats)
        let sizes = try known(3, "sizes").map { t -> [Int] in
            guard let v = t.integers(), t.dtype == .int64 || t.dtype == .int32 else { throw OpError("Resize sizes must be int64 (got \(t.dtype))") }
            return v
        }
        return [TypedShape(.float32, try plan(x.shape, roi: roi, scales: scales, sizes: sizes, attrs).output)]
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard case .resize(let attrs) = op else { throw OpError("\(op.typeName) is not Resize") }
        guard let x = inputs.first ?? nil, let y = outputs.first else { throw OpError("Resize needs an input and an output") }
        func present(_ i: Int) -> TensorView? {
            guard i < inputs.count, let v = inputs[i], v.count > 0 else { return nil }
            return v
        }
        let roi = attrs.coordinateTransformation == .tfCropAndResize ? try present(1).map(floats) : nil
        let p = try plan(x.shape, roi: roi, scales: try present(2).map(floats), sizes: try present(3).map(ints), attrs)
        guard p.output == y.shape else { throw OpError("Resize output \(y.shape) does not match the computed \(p.output)") }
        try ResizeKernels.resize(p, attrs, x: UnsafePointer(x.pointer(Float.self)), y: y.pointer(Float.self), ctx)
    }
}
