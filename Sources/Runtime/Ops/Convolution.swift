import CKernels

/// Conv and ConvTranspose (N-D, grouped, fused bias + activation).
/// Conv: depthwise 2-D runs a direct loop; 1x1 stride-1 unpadded is one sgemm per group; the rest
/// is im2col into the workspace (chunked over output positions) + sgemm. ConvTranspose: sgemm
/// (W^T X) into a column buffer in the workspace, then col2im.
enum Convolution {
    /// Geometry after defaults and auto-padding are resolved.
    struct Geometry: Equatable {
        var batch = 0, inChannels = 0, outChannels = 0, group = 1
        var inSpatial: [Int] = [], outSpatial: [Int] = [], kernel: [Int] = []
        var strides: [Int] = [], dilations: [Int] = [], padBegin: [Int] = [], padEnd: [Int] = []
        var output: [Int] { [batch, outChannels] + outSpatial }
        var kernelSize: Int { Tensor.elementCount(kernel) }
        var inSize: Int { Tensor.elementCount(inSpatial) }
        var outSize: Int { Tensor.elementCount(outSpatial) }

        /// The sliding window for the C kernels: conv reads `inSpatial` at `outSpatial` positions;
        /// conv transpose scatters into `outSpatial` from `inSpatial` positions.
        func window(transpose: Bool) -> lseg_window {
            var w = lseg_window()
            w.nd = Int32(kernel.count)
            withUnsafeMutableBytes(of: &w.image) { fill($0, transpose ? outSpatial : inSpatial) }
            withUnsafeMutableBytes(of: &w.grid) { fill($0, transpose ? inSpatial : outSpatial) }
            withUnsafeMutableBytes(of: &w.kernel) { fill($0, kernel) }
            withUnsafeMutableBytes(of: &w.stride) { fill($0, strides) }
            withUnsafeMutableBytes(of: &w.pad_begin) { fill($0, padBegin) }
            withUnsafeMutableBytes(of: &w.dilation) { fill($0, dilations) }
            return w
        }
        private func fill(_ raw: UnsafeMutableRawBufferPointer, _ values: [Int]) {
            let p = raw.bindMemory(to: Int64.self)
            for (i, v) in values.enumerated() { p[i] = Int64(v) }
        }
    }

    static let maxSpatialRank = Int(LSEG_MAX_SPATIAL)

    /// Strides, dilations, kernel and explicit pads with ONNX defaults, checked against `nd`.
    private static func windowAttrs(_ attrs: ConvAttrs, nd: Int, weightKernel: [Int]) throws
        -> (kernel: [Int], strides: [Int], dilations: [Int], pads: [Int]) {
        let kernel = attrs.kernelShape.isEmpty ? weightKernel : attrs.kernelShape
        guard kernel == weightKernel else { throw OpError("kernel_shape \(attrs.kernelShape) does not match the weight's \(weightKernel)") }
        let strides = attrs.strides.isEmpty ? Array(repeating: 1, count: nd) : attrs.strides
        let dilations = attrs.dilations.isEmpty ? Array(repeating: 1, count: nd) : attrs.dilations
        let pads = attrs.pads.isEmpty ? Array(repeating: 0, count: 2 * nd) : attrs.pads
        guard strides.count == nd, strides.allSatisfy({ $0 >= 1 }) else { throw OpError("strides \(attrs.strides) must be \(nd) values >= 1") }
        guard dilations.count == nd, dilations.allSatisfy({ $0 >= 1 }) else { throw OpError("dilations \(attrs.dilations) must be \(nd) values >= 1") }
        guard pads.count == 2 * nd, pads.allSatisfy({ $0 >= 0 }) else { throw OpError("pads \(attrs.pads) must be \(2 * nd) values >= 0") }
        guard kernel.allSatisfy({ $0 >= 1 }) else { throw OpError("kernel shape \(kernel) must be positive") }
        return (kernel, strides, dilations, pads)
    }

    /// Output size and pads of one axis of a forward sliding window (Conv and the pools).
    static func forwardAxis(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int,
                            autoPad: AutoPad, ceilMode: Bool = false) throws -> (out: Int, padBegin: Int, padEnd: Int) {
        let span = (kernel - 1) * dilation + 1
        switch autoPad {
        case .sameUpper, .sameLower:
            let out = (input + stride - 1) / stride
            let total = Swift.max(0, (out - 1) * stride + span - input)
            let small = total / 2
            return autoPad == .sameUpper ? (out, small, total - small) : (out, total - small, small)
        case .valid, .notSet:
            let (b, e) = autoPad == .valid ? (0, 0) : (padBegin, padEnd)
            let room = input + b + e - span
            guard room >= 0 else { throw OpError("window of \(span) (kernel \(kernel), dilation \(dilation)) exceeds padded input \(input + b + e)") }
            var out = (ceilMode ? (room + stride - 1) / stride : room / stride) + 1
            // A ceil-mode window must start inside the input or its begin padding.
            if ceilMode && (out - 1) * stride >= input + b { out -= 1 }
            return (out, b, e)
        }
    }

    static func convGeometry(_ x: [Int], _ w: [Int], _ attrs: ConvAttrs) throws -> Geometry {
        guard x.count >= 3 else { throw OpError("Conv input must be [N, C, spatial...] (got \(x))") }
        let nd = x.count - 2
        guard nd <= maxSpatialRank else { throw OpError("Conv supports up to \(maxSpatialRank) spatial axes (got \(nd))") }
        guard w.count == x.count else { throw OpError("Conv weight \(w) must have the input's rank \(x.count)") }
        guard attrs.group >= 1 else { throw OpError("group \(attrs.group) must be >= 1") }
        var g = Geometry()
        g.batch = x[0]; g.inChannels = x[1]; g.outChannels = w[0]; g.group = attrs.group
        guard g.inChannels % g.group == 0 else { throw OpError("input channels \(g.inChannels) not divisible by group \(g.group)") }
        guard g.outChannels % g.group == 0 else { throw OpError("output channels \(g.outChannels) not divisible by group \(g.group)") }
        guard w[1] == g.inChannels / g.group else {
            throw OpError("weight \(w) expects \(w[1] * g.group) input channels, input \(x) has \(g.inChannels) (group \(g.group))")
        }
        let (kernel, strides, dilations, pads) = try windowAttrs(attrs, nd: nd, weightKernel: Array(w[2...]))
        g.inSpatial = Array(x[2...]); g.kernel = kernel; g.strides = strides; g.dilations = dilations
        for i in 0..<nd {
            let a = try forwardAxis(input: x[2 + i], kernel: kernel[i], stride: strides[i], dilation: dilations[i],
                                    padBegin: pads[i], padEnd: pads[nd + i], autoPad: attrs.autoPad)
            g.outSpatial.append(a.out); g.padBegin.append(a.padBegin); g.padEnd.append(a.padEnd)
        }
        return g
    }

    static func convTransposeGeometry(_ x: [Int], _ w: [Int], _ attrs: ConvTransposeAttrs) throws -> Geometry {
        let c = attrs.conv
        guard x.count >= 3 else { throw OpError("ConvTranspose input must be [N, C, spatial...] (got \(x))") }
        let nd = x.count - 2
        guard nd <= maxSpatialRank else { throw OpError("ConvTranspose supports up to \(maxSpatialRank) spatial axes (got \(nd))") }
        guard w.count == x.count else { throw OpError("ConvTranspose weight \(w) must have the input's rank \(x.count)") }
        guard c.group >= 1 else { throw OpError("group \(c.group) must be >= 1") }
        var g = Geometry()
        g.batch = x[0]; g.inChannels = x[1]; g.group = c.group; g.outChannels = w[1] * c.group
        guard w[0] == g.inChannels else { throw OpError("weight \(w) expects \(w[0]) input channels, input \(x) has \(g.inChannels)") }
        guard g.inChannels % g.group == 0 else { throw OpError("input channels \(g.inChannels) not divisible by group \(g.group)") }
        let (kernel, strides, dilations, pads) = try windowAttrs(c, nd: nd, weightKernel: Array(w[2...]))
        let outputPadding = attrs.outputPadding.isEmpty ? Array(repeating: 0, count: nd) : attrs.outputPadding
        guard outputPadding.count == nd, outputPadding.allSatisfy({ $0 >= 0 }) else {
            throw OpError("output_padding \(attrs.outputPadding) must be \(nd) values >= 0")
        }
        var outputShape = attrs.outputShape
        if outputShape.count == nd + 2 { outputShape = Array(outputShape[2...]) }
        guard outputShape.isEmpty || outputShape.count == nd else { throw OpError("output_shape \(attrs.outputShape) must have \(nd) values") }
        g.inSpatial = Array(x[2...]); g.kernel = kernel; g.strides = strides; g.dilations = dilations
        for i in 0..<nd {
            let full = strides[i] * (g.inSpatial[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1
            var b = pads[i], e = pads[nd + i], out: Int
            let target = !outputShape.isEmpty ? outputShape[i]
                : (c.autoPad == .sameUpper || c.autoPad == .sameLower) ? g.inSpatial[i] * strides[i] : -1
            if target >= 0 {
                // ONNX: pads are generated to reach the requested size; SAME_UPPER puts the odd one at the end.
                let total = Swift.max(0, full - target)
                (b, e) = c.autoPad == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
                out = target
            } else {
                if c.autoPad == .valid { b = 0; e = 0 }
                out = full - b - e
            }
            guard out >= 0 else { throw OpError("ConvTranspose output size \(out) on spatial axis \(i) is negative") }
            g.outSpatial.append(out); g.padBegin.append(b); g.padEnd.append(e)
        }
        return g
    }

    private static func checkBias(_ bias: [Int]?, _ m: Int) throws {
        if let bias, bias != [m] { throw OpError("bias \(bias) must be [\(m)]") }
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1] else { throw OpError("\(op.typeName) needs input and weight") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        for t in [x, w] + (bias.map { [$0] } ?? []) where t.dtype != .float32 {
            throw OpError("\(op.typeName) supports float32 only (got \(t.dtype))")
        }
        let g: Geometry
        switch op {
        case .conv(let attrs):
            g = try convGeometry(x.shape, w.shape, attrs)
            try checkFusedInputs(attrs, inputs.count > 3 ? inputs[3].map { ($0.dtype, $0.shape) } : nil,
                                 inputCount: inputs.count, output: g.output)
        case .convTranspose(let attrs):
            guard attrs.conv.preActivation == .none, !attrs.conv.residual else {
                throw OpError("ConvTranspose takes no preActivation or residual")
            }
            g = try convTransposeGeometry(x.shape, w.shape, attrs)
        default: throw OpError("\(op.typeName) is not a convolution")
        }
        try checkBias(bias?.shape, g.outChannels)
        return [TypedShape(.float32, g.output)]
    }

    /// A fused conv's extras: preActivation none or relu; with `residual`, a fourth input of the
    /// output's shape (float32), else at most three inputs. Conv and QConv both check this.
    static func checkFusedInputs(_ attrs: ConvAttrs, _ residual: (dtype: DType, shape: [Int])?, inputCount: Int,
                                 output: [Int]) throws {
        guard attrs.preActivation == .none || attrs.preActivation == .relu else {
            throw OpError("preActivation must be none or relu (got \(attrs.preActivation))")
        }
        if attrs.residual {
            guard let r = residual else { throw OpError("residual is set but input 3 (the residual) is missing") }
            guard r.dtype == .float32 else { throw OpError("residual must be float32 (got \(r.dtype))") }
            guard r.shape == output else { throw OpError("residual \(r.shape) must have the output's shape \(output)") }
        } else if inputCount > 3 {
            throw OpError("takes at most 3 inputs unless residual is set (got \(inputCount))")
        }
    }

    /// Upper bound on the column buffer; larger problems are processed in position chunks.
    static let columnBudgetBytes = 64 << 20

    enum ConvPath { case depthwise, pointwise, winograd, im2col }

    static func convPath(_ g: Geometry) -> ConvPath {
        if g.group == g.inChannels && g.outChannels == g.inChannels && g.kernel.count == 2 { return .depthwise }
        if g.kernel.allSatisfy({ $0 == 1 }) && g.strides.allSatisfy({ $0 == 1 })
            && g.padBegin.allSatisfy({ $0 == 0 }) && g.padEnd.allSatisfy({ $0 == 0 }) { return .pointwise }
        if winogradPays(g) { return .winograd }
        return .im2col
    }

    /// Winograd (F(4x4, 3x3) or F(6x6, 3x3), see `winogradTiling`) applies to 2-D 3x3 convolutions
    /// with stride 1, dilation 1 and one group. It pays when there are enough output tiles for wide
    /// products: measured per layer (F(4x4, 3x3)) on one core against im2col + sgemm (C -> K channels at HxW output): 256->256 at 96x96 2.0x
    /// faster, 48x48 1.9x, 24x24 (36 tiles) 1.6x, 12x12 (9 tiles) 1.1x, 6x6 3x slower; 96->256 at
    /// 96x96 1.5x, 768->256 at 12x12 1.06x; 32->32 at 96x96 2.6x, 16->16 at 24x24 1.5x.
    /// Rechecked with the packed-filter products (thread CPU time, one core, AVX-512, Winograd vs
    /// the sgemm alone without its im2col): 256->256 at 24x24 5.2 vs 6.2 ms, 192->256 at 24x24 4.1
    /// vs 4.3 ms; at 12x12 (9 tiles) 256->256 2.1 vs 1.7 ms and 768->256 8.2 vs 5.0 ms: with one
    /// 16-column block the transformed filters (4x the weight) stream from memory for little work.
    /// Rule: at least 32 output tiles of 4x4 and at least 16 input and output channels.
    static func winogradPays(_ g: Geometry) -> Bool {
        guard g.kernel == [3, 3], g.strides == [1, 1], g.dilations == [1, 1], g.group == 1 else { return false }
        let tiles = g.batch * ((g.outSpatial[0] + 3) / 4) * ((g.outSpatial[1] + 3) / 4)
        return tiles >= 32 && g.inChannels >= 16 && g.outChannels >= 16
    }

    /// Which Winograd variant a layer that passes `winogradPays` runs: F(6x6, 3x3) (64 products per
    /// 6x6 tile, 21 % fewer than F(4x4, 3x3) per output, costlier transforms, a larger rounding
    /// error) or F(4x4, 3x3). Measured per layer on one core (thread CPU time, AVX-512, best of 5,
    /// F(4,3) vs F(6,3) in ms, C -> K at HxW output): 256->256 at 96x96 50 vs 40, 48x48 15.0 vs
    /// 10.4, 30x30 9.5 vs 6.1, 26x26 8.9 vs 5.5, 24x24 6.0 vs 4.3, 12x12 2.6 vs 3.6; 96->256 at
    /// 96x96 15.3 vs 11.7, 192->256 at 48x48 9.7 vs 7.8, 384->256 and 512->256 at 24x24 8.4 vs 7.2
    /// and 11.2 vs 8.8, 768->256 at 12x12 7.6 vs 12.2; 128->128 at 100x100 14.3 vs 12.1; 64->64 and
    /// 32->32 at 96x96 4.3 vs 2.6 and 1.65 vs 0.9; 16->16 at 24x24 0.2 vs 0.07. F(6,3) loses only
    /// where its tiles leave most of a 16-column products block empty (12x12: 4 tiles).
    /// Rule: F(6x6, 3x3) from 16 tiles of 6x6 on (24x24 outputs and up), F(4x4, 3x3) below.
    /// Its cost is memory: prepared F(6,3) filters are 64/9 of the weight (F(4,3)'s 4x); peak RSS
    /// of the image graph at 384x384 went from 671 to 796 MB (vitb32) and 1701 to 1853 MB (vitl16).
    static func winogradTiling(_ g: Geometry) -> WinogradKernels.Tiling {
        let tiles6 = g.batch * ((g.outSpatial[0] + 5) / 6) * ((g.outSpatial[1] + 5) / 6)
        return tiles6 >= 16 ? .f6 : .f4
    }

    /// Bytes of one column row-set: (rows of the column matrix) * positions, capped by the budget
    /// but at least one position so any shape can run.
    static func columnBytes(rows: Int, positions: Int) -> Int {
        guard rows > 0, positions > 0 else { return 0 }
        let perPosition = rows * 4
        let chunk = Swift.min(positions, Swift.max(1, columnBudgetBytes / perPosition))
        return chunk * perPosition
    }

    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1] else { return 0 }
        switch op {
        case .conv(let attrs):
            guard let g = try? convGeometry(x.shape, w.shape, attrs) else { return 0 }
            let path = convPath(g)
            let kernel: Int
            switch path {
            case .im2col: kernel = columnBytes(rows: g.inChannels / g.group * g.kernelSize, positions: g.outSize)
            case .winograd: kernel = WinogradKernels.workspaceBytes(g)
            case .depthwise, .pointwise: kernel = 0
            }
            return kernel + ConvolutionKernels.preActivationBytes(g, attrs, path: path)
        case .convTranspose(let attrs):
            guard let g = try? convTransposeGeometry(x.shape, w.shape, attrs) else { return 0 }
            return columnBytes(rows: g.outChannels / g.group * g.kernelSize, positions: g.inSize)
        default:
            return 0
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard inputs.count >= 2, let x = inputs[0], let w = inputs[1], let y = outputs.first else {
            throw OpError("\(op.typeName) needs input, weight and output")
        }
        let bias = inputs.count > 2 ? inputs[2] : nil
        switch op {
        case .conv(let attrs):
            let g = try convGeometry(x.shape, w.shape, attrs)
            try checkBias(bias?.shape, g.outChannels)
            let residual = inputs.count > 3 ? inputs[3] : nil
            try checkFusedInputs(attrs, residual.map { ($0.dtype, $0.shape) }, inputCount: inputs.count, output: g.output)
            try ConvolutionKernels.conv(g, x: x.pointer(Float.self), weight: w.pointer(Float.self),
                                        bias: bias?.pointer(Float.self), residual: residual?.pointer(Float.self),
                                        y: y.pointer(Float.self), activation: attrs.activation,
                                        preRelu: attrs.preActivation == .relu, ctx)
        case .convTranspose(let attrs):
            let g = try convTransposeGeometry(x.shape, w.shape, attrs)
            try checkBias(bias?.shape, g.outChannels)
            try ConvolutionKernels.convTranspose(g, x: x.pointer(Float.self), weight: w.pointer(Float.self),
                                                 bias: bias?.pointer(Float.self), y: y.pointer(Float.self),
                                                 activation: attrs.conv.activation, ctx)
        default:
            throw OpError("\(op.typeName) is not a convolution")
        }
    }
}
