import CKernels

/// QLinear, QConv and QConvTranspose: float in, int8 weights with per-output-channel scales, int32 accumulation,
/// float out with bias and activation fused (kernels in Int8Kernels.swift).
enum Int8Ops {
    /// Up to this depth sum (q - zp) * w with |q - zp| <= 255 and |w| <= 128 fits int32, so every
    /// path gives exact sums (the VNNI epilogue adds the zero-point term in int32).
    static let maxDepth = Int(Int32.max) / (255 * 128)

    /// A fused pre-ReLU needs no work when the input's zero point is 0 (what the quantizer
    /// calibrates for such convs): uint8 quantization then clamps every negative value (and NaN)
    /// to 0 = the code of ReLU's 0, so quantize(x) and quantize(max(x, 0)) are the same bytes.
    static func quantizationIsReLU(_ attrs: QConvAttrs) -> Bool {
        attrs.conv.preActivation == .relu && attrs.input.zeroPoints == [0]
    }

    /// The calibrated per-tensor uint8 parameters of the float input.
    static func inputQuant(_ q: QuantParams) throws -> (scale: Float, zeroPoint: Int32) {
        guard q.scales.count == 1, q.zeroPoints.count == 1 else {
            throw OpError("input quantization must be per tensor (got \(q.scales.count) scales, \(q.zeroPoints.count) zero points)")
        }
        let s = q.scales[0], zp = q.zeroPoints[0]
        guard s.isFinite, s > 0 else { throw OpError("input scale \(s) must be finite and positive") }
        guard (0...255).contains(zp) else { throw OpError("input zero point \(zp) must be in 0...255 (uint8)") }
        return (s, zp)
    }

    /// Per-output-channel weight scales: `channels` positive scales, zero points all 0.
    static func weightScales(_ q: QuantParams?, channels: Int) throws -> [Float] {
        guard let q else { throw OpError("int8 weight has no quantization parameters") }
        guard q.scales.count == channels else {
            throw OpError("weight has \(q.scales.count) scales for \(channels) output channels")
        }
        guard q.axis == nil || q.axis == 0 || channels == 1 else { throw OpError("weight scales must be along axis 0 (got axis \(q.axis!))") }
        guard q.zeroPoints.allSatisfy({ $0 == 0 }), q.zeroPoints.count == channels || q.zeroPoints.isEmpty || q.zeroPoints.count == 1 else {
            throw OpError("weight zero points must be 0 (symmetric int8)")
        }
        for s in q.scales where !(s.isFinite && s > 0) { throw OpError("weight scale \(s) must be finite and positive") }
        return q.scales
    }

    private static func checkTypes(_ op: Op, x: DType, w: DType, bias: DType?) throws {
        guard x == .float32 else { throw OpError("\(op.typeName) input must be float32 (got \(x))") }
        guard w == .int8 else { throw OpError("\(op.typeName) weight must be int8 (got \(w))") }
        if let bias, bias != .float32 { throw OpError("\(op.typeName) bias must be float32 (got \(bias))") }
    }

    private static func checkBias(_ bias: [Int]?, _ n: Int) throws {
        if let bias, bias != [n] { throw OpError("bias \(bias) must be [\(n)]") }
    }

    private static func checkDepth(_ k: Int) throws {
        guard k <= maxDepth else { throw OpError("reduction depth \(k) exceeds the int32-exact limit \(maxDepth)") }
    }

    /// QLinear shapes: x [..., K], weight [N, K] -> [..., N].
    static func linearShapes(_ x: [Int], _ w: [Int]) throws -> (m: Int, n: Int, k: Int, out: [Int]) {
        guard x.count >= 1 else { throw OpError("QLinear input must have rank >= 1 (got \(x))") }
        guard w.count == 2 else { throw OpError("QLinear weight must be [N, K] (got \(w))") }
        let k = x[x.count - 1]
        guard w[1] == k else { throw OpError("QLinear weight \(w) does not match input depth \(k) of \(x)") }
        try checkDepth(k)
        return (Tensor.elementCount(Array(x.dropLast())), w[0], k, Array(x.dropLast()) + [w[0]])
    }

    static func convGeometry(_ x: [Int], _ w: [Int], _ attrs: ConvAttrs) throws -> Convolution.Geometry {
        let g = try Convolution.convGeometry(x, w, attrs)
        guard g.kernel.count <= 2 else { throw OpError("QConv supports 1-D and 2-D convolutions (got \(g.kernel.count) spatial axes)") }
        try checkDepth(g.inChannels / g.group * g.kernelSize)
        return g
    }

    /// QConvTranspose shapes: x [N, Cin, H, W], weight [Cout * kh * kw, Cin].
    struct TransposeShapes {
        var batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, kh: Int, kw: Int
        var rows: Int { outChannels * kh * kw }
        var pixels: Int { height * width }
        var output: [Int] { [batch, outChannels, height * kh, width * kw] }
    }

    static func transposeShapes(_ x: [Int], _ w: [Int], _ attrs: QConvTransposeAttrs) throws -> TransposeShapes {
        guard attrs.kernel.count == 2, attrs.kernel.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }) else {
            throw OpError("QConvTranspose kernel \(attrs.kernel) must be two sizes in 1...65536")
        }
        guard x.count == 4 else { throw OpError("QConvTranspose input must be [N, C, H, W] (got \(x))") }
        let kk = attrs.kernel[0] * attrs.kernel[1]
        guard w.count == 2, w[1] == x[1], w[0] % kk == 0 else {
            throw OpError("QConvTranspose weight must be [Cout * \(attrs.kernel[0]) * \(attrs.kernel[1]), \(x[1])] (got \(w))")
        }
        try checkDepth(x[1])
        let s = TransposeShapes(batch: x[0], inChannels: x[1], height: x[2], width: x[3], outChannels: w[0] / kk,
                                kh: attrs.kernel[0], kw: attrs.kernel[1])
        let (hw, o1) = (x[2] * attrs.kernel[0]).multipliedReportingOverflow(by: x[3] * attrs.kernel[1])
        let (_, o2) = hw.multipliedReportingOverflow(by: max(1, s.outChannels * s.batch))
        guard !o1, !o2 else { throw OpError("QConvTranspose output \(s.output) is too large") }
        return s
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1] else { throw OpError("\(op.typeName) needs input and weight") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        try checkTypes(op, x: x.dtype, w: w.dtype, bias: bias?.dtype)
        switch op {
        case .qLinear(let attrs):
            _ = try inputQuant(attrs.input)
            let s = try linearShapes(x.shape, w.shape)
            try checkBias(bias?.shape, s.n)
            if let v = w.value { _ = try weightScales(v.quant, channels: s.n) }
            return [TypedShape(.float32, s.out)]
        case .qConv(let attrs):
            _ = try inputQuant(attrs.input)
            let g = try convGeometry(x.shape, w.shape, attrs.conv)
            try checkBias(bias?.shape, g.outChannels)
            try Convolution.checkFusedInputs(attrs.conv, inputs.count > 3 ? inputs[3].map { ($0.dtype, $0.shape) } : nil,
                                             inputCount: inputs.count, output: g.output)
            if let v = w.value { _ = try weightScales(v.quant, channels: g.outChannels) }
            return [TypedShape(.float32, g.output)]
        case .qConvTranspose(let attrs):
            _ = try inputQuant(attrs.input)
            let s = try transposeShapes(x.shape, w.shape, attrs)
            try checkBias(bias?.shape, s.outChannels)
            if let v = w.value { _ = try weightScales(v.quant, channels: s.rows) }
            return [TypedShape(.float32, s.output)]
        default:
            throw OpError("\(op.typeName) is not an int8 op")
        }
    }

    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1] else { return 0 }
        let path = Int8Kernels.path
        switch op {
        case .qLinear:
            guard let s = try? linearShapes(x.shape, w.shape) else { return 0 }
            return Int8Kernels.LinearLayout(path: path, m: s.m, n: s.n, k: s.k).bytes
        case .qConv(let attrs):
            guard let g = try? convGeometry(x.shape, w.shape, attrs.conv) else { return 0 }
            // The int8 kernels take neither fused extra: a pre-ReLU reads a ReLU'd copy, unless
            // the quantization does the ReLU itself (zero point 0, see run).
            return Int8Kernels.ConvLayout(path: path, g).bytes
                + (quantizationIsReLU(attrs) ? 0 : ConvolutionKernels.preActivationBytes(g, attrs.conv, path: .im2col))
        case .qConvTranspose(let attrs):
            guard let s = try? transposeShapes(x.shape, w.shape, attrs) else { return 0 }
            return Int8Kernels.convTransposeWorkspace(path: path, s)
        default:
            return 0
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1], let y = outputs.first else {
            throw OpError("\(op.typeName) needs input, weight and output")
        }
        let bias = inputs.count > 2 ? inputs[2] : nil
        try checkTypes(op, x: x.dtype, w: w.dtype, bias: bias?.dtype)
        switch op {
        case .qLinear(let attrs):
            let q = try inputQuant(attrs.input)
            let s = try linearShapes(x.shape, w.shape)
            try checkBias(bias?.shape, s.n)
            let scales = try weightScales(w.quant, channels: s.n)
            try Int8Kernels.linear(path: Int8Kernels.path, m: s.m, n: s.n, k: s.k, x: x.pointer(Float.self),
                                   weight: w.pointer(Int8.self), weightScales: scales, bias: bias?.pointer(Float.self),
                                   input: q, activation: attrs.activation, y: y.pointer(Float.self), ctx)
        case .qConv(let attrs):
            let q = try inputQuant(attrs.input)
            let g = try convGeometry(x.shape, w.shape, attrs.conv)
            try checkBias(bias?.shape, g.outChannels)
            let scales = try weightScales(w.quant, channels: g.outChannels)
            let residual = inputs.count > 3 ? inputs[3] : nil
            try Convolution.checkFusedInputs(attrs.conv, residual.map { ($0.dtype, $0.shape) }, inputCount: inputs.count,
                                             output: g.output)
            let weight = w.pointer(Int8.self), biasPointer = bias?.pointer(Float.self), out = y.pointer(Float.self)
            let residualPointer = residual?.pointer(Float.self)
            // The residual goes to the kernel, which adds it in its output stage (direct path) or after.
            try ConvolutionKernels.withFusedExtras(g, x: x.pointer(Float.self),
                                                   preRelu: attrs.conv.preActivation == .relu && !quantizationIsReLU(attrs),
                                                   residual: nil, y: out, activation: attrs.conv.activation, ctx) { x, activation, ctx in
                try Int8Kernels.conv(path: Int8Kernels.path, g, x: x, weight: weight, weightScales: scales, bias: biasPointer,
                                     input: q, activation: activation, residual: residualPointer, y: out, ctx)
            }
        case .qConvTranspose(let attrs):
            let q = try inputQuant(attrs.input)
            let s = try transposeShapes(x.shape, w.shape, attrs)
            try checkBias(bias?.shape, s.outChannels)
            let scales = try weightScales(w.quant, channels: s.rows)
            try Int8Kernels.convTranspose(path: Int8Kernels.path, s, x: x.pointer(Float.self), weight: w.pointer(Int8.self),
                                          weightScales: scales, bias: bias?.pointer(Float.self), input: q,
                                          activation: attrs.activation, y: y.pointer(Float.self), ctx)
        default:
            throw OpError("\(op.typeName) is not an int8 op")
        }
    }
}
