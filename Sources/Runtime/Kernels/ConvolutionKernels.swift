import CKernels

/// Convolution kernels over float32 NC(spatial) tensors, and the scalar references.
enum ConvolutionKernels {
    private static func workspaceFloats(_ ctx: ExecContext) -> (UnsafeMutablePointer<Float>?, Int) {
        guard let p = ctx.workspace else { return (nil, 0) }
        return (p.assumingMemoryBound(to: Float.self), ctx.workspaceBytes / 4)
    }

    /// Workspace bytes a fused pre-activation needs besides the kernel's own: the Winograd input
    /// transform applies the ReLU as it reads the input; the other paths read a ReLU'd copy of it
    /// (placed first in the workspace).
    static func preActivationBytes(_ g: Convolution.Geometry, _ attrs: ConvAttrs, path: Convolution.ConvPath) -> Int {
        attrs.preActivation == .none || path == .winograd ? 0 : preActivationCopyBytes(g)
    }

    private static func preActivationCopyBytes(_ g: Convolution.Geometry) -> Int {
        (g.batch * g.inChannels * g.inSize * 4 + 63) / 64 * 64
    }

    /// y = activation(conv(preRelu ? max(x, 0) : x) + bias + residual); residual (may be nil) is
    /// shaped like y. Winograd fuses all of it into its transforms; the other paths add the
    /// residual and apply the activation in one pass after the products.
    static func conv(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                     bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>,
                     activation: Activation, preRelu: Bool = false, _ ctx: ExecContext,
                     path chosen: Convolution.ConvPath? = nil) throws {
        if g.outSize == 0 || g.outChannels == 0 || g.batch == 0 { return }
        let path = chosen ?? Convolution.convPath(g)
        if path == .winograd {
            try WinogradKernels.conv(g, x: x, weight: weight, bias: bias, residual: residual, y: y, activation: activation,
                                     preRelu: preRelu, ctx)
            return
        }
        try withFusedExtras(g, x: x, preRelu: preRelu, residual: residual, y: y, activation: activation, ctx) { x, act, ctx in
            try convUnfused(g, x: x, weight: weight, bias: bias, y: y, activation: act, ctx, path: path)
        }
    }

    /// Conv's fused extras for kernels that do not take them: `body` runs on a ReLU'd copy of x
    /// (in the workspace's first preActivationCopyBytes; body gets the rest) when preRelu, with
    /// no activation when there is a residual, which is then added to y before the activation in
    /// one pass. Conv's non-Winograd paths and QConv use it.
    static func withFusedExtras(_ g: Convolution.Geometry, x: UnsafePointer<Float>, preRelu: Bool,
                                residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, activation: Activation,
                                _ ctx: ExecContext,
                                _ body: (UnsafePointer<Float>, Activation, ExecContext) throws -> Void) throws {
        var ctx = ctx, x = x
        if preRelu {
            let bytes = preActivationCopyBytes(g), count = g.batch * g.inChannels * g.inSize
            guard let ws = ctx.workspace, ctx.workspaceBytes >= bytes else {
                throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for the ReLU'd input (\(bytes) bytes)")
            }
            let copy = ws.assumingMemoryBound(to: Float.self), source = x
            ctx.parallelFor(count, costPerItem: 1) { r in
                lseg_unary_f32(Int32(LSEG_UN_RELU.rawValue), source + r.lowerBound, copy + r.lowerBound, r.count)
            }
            x = UnsafePointer(copy)
            ctx = ctx.workspace(after: bytes)
        }
        try body(x, residual == nil ? activation : .none, ctx)
        if let residual { addResidual(g, y: y, residual, activation, ctx) }
    }

    /// y = activation(y + residual) over the whole output of `g`.
    static func addResidual(_ g: Convolution.Geometry, y: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>,
                            _ activation: Activation, _ ctx: ExecContext) {
        let count = g.batch * g.outChannels * g.outSize
        ctx.parallelFor(count, costPerItem: 1) { r in
            lseg_binary_f32(Int32(LSEG_BIN_ADD.rawValue), y + r.lowerBound, 1, residual + r.lowerBound, 1, y + r.lowerBound, r.count)
        }
        GemmKernels.biasActivation(y, rows: g.batch * g.outChannels, cols: g.outSize, ld: g.outSize, colBias: nil,
                                   rowBias: nil, activation, ctx)
    }

    private static func convUnfused(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                    bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, activation: Activation,
                                    _ ctx: ExecContext, path: Convolution.ConvPath) throws {
        let p = g.outSize, m = g.outChannels, c = g.inChannels
        let cg = c / g.group, mg = m / g.group, kk = g.kernelSize, k = cg * kk
        var window = g.window(transpose: false)
        var chunk = p
        var column: UnsafeMutablePointer<Float>? = nil
        if path == .im2col {
            let (ws, floats) = workspaceFloats(ctx)
            chunk = Swift.min(p, floats / Swift.max(k, 1))
            guard let ws, chunk >= 1 else {
                throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for an im2col column of \(k) floats")
            }
            column = ws
        }
        for n in 0..<g.batch {
            let xn = x + n * c * g.inSize, yn = y + n * m * p
            switch path {
            case .depthwise:
                withUnsafePointer(to: &window) { win in
                    ctx.parallelFor(c, costPerItem: p * kk) { r in
                        lseg_depthwise_conv2d(xn, weight, bias, yn, win, Int64(r.lowerBound), Int64(r.upperBound))
                    }
                }
                GemmKernels.biasActivation(yn, rows: m, cols: p, ld: p, colBias: nil, rowBias: nil, activation, ctx)
                continue
            case .pointwise:
                for gi in 0..<g.group {
                    try GemmKernels.sgemm(transA: false, transB: false, m: mg, n: p, k: cg, alpha: 1,
                                          a: weight + gi * mg * cg, lda: cg, b: xn + gi * cg * p, ldb: p,
                                          beta: 0, c: yn + gi * mg * p, ldc: p, threads: ctx.threads)
                }
            case .im2col, .winograd:
                let col = column!
                for gi in 0..<g.group {
                    let xg = xn + gi * cg * g.inSize
                    var p0 = 0
                    while p0 < p {
                        let len = Swift.min(chunk, p - p0)
                        let twoD = g.kernel.count == 2
                        withUnsafePointer(to: &window) { win in
                            ctx.parallelFor(cg, costPerItem: kk * len) { r in
                                if twoD {
                                    lseg_im2col_2d(xg, win, Int64(r.lowerBound), Int64(r.upperBound), Int64(p0), Int64(p0 + len), col)
                                } else {
                                    lseg_im2col(xg, win, Int64(r.lowerBound), Int64(r.upperBound), Int64(p0), Int64(p0 + len), col)
                                }
                            }
                        }
                        try GemmKernels.sgemm(transA: false, transB: false, m: mg, n: len, k: k, alpha: 1,
                                              a: weight + gi * mg * k, lda: k, b: col, ldb: len,
                                              beta: 0, c: yn + gi * mg * p + p0, ldc: p, threads: ctx.threads)
                        p0 += len
                    }
                }
            }
            GemmKernels.biasActivation(yn, rows: m, cols: p, ld: p, colBias: nil, rowBias: bias, activation, ctx)
        }
    }

    static func convTranspose(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, activation: Activation,
                              _ ctx: ExecContext) throws {
        let pin = g.inSize, pout = g.outSize, m = g.outChannels, c = g.inChannels
        let cg = c / g.group, mg = m / g.group, kk = g.kernelSize, rows = mg * kk
        if g.batch == 0 || m == 0 || pout == 0 { return }
        if ConvTransposeKernels.isNonOverlapping(g) {
            try ConvTransposeKernels.nonOverlapping(g, x: x, weight: weight, bias: bias, y: y, activation: activation, ctx)
            return
        }
        y.initialize(repeating: 0, count: g.batch * m * pout)
        var window = g.window(transpose: true)
        if pin > 0 && rows > 0 {
            let (ws, floats) = workspaceFloats(ctx)
            let chunk = Swift.min(pin, floats / rows)
            guard let col = ws, chunk >= 1 else {
                throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a column of \(rows) floats")
            }
            for n in 0..<g.batch {
                for gi in 0..<g.group {
                    let xg = x + (n * c + gi * cg) * pin, wg = weight + gi * cg * rows
                    let yg = y + (n * m + gi * mg) * pout
                    var p0 = 0
                    while p0 < pin {
                        let len = Swift.min(chunk, pin - p0)
                        try GemmKernels.sgemm(transA: true, transB: false, m: rows, n: len, k: cg, alpha: 1,
                                              a: wg, lda: rows, b: xg + p0, ldb: pin, beta: 0, c: col, ldc: len,
                                              threads: ctx.threads)
                        // Each output channel's taps scatter only into that channel: split over channels.
                        withUnsafePointer(to: &window) { win in
                            ctx.parallelFor(mg, costPerItem: kk * len) { r in
                                lseg_col2im(col, win, Int64(r.lowerBound), Int64(r.upperBound), Int64(p0), Int64(p0 + len), yg)
                            }
                        }
                        p0 += len
                    }
                }
            }
        }
        for n in 0..<g.batch {
            GemmKernels.biasActivation(y + n * m * pout, rows: m, cols: pout, ld: pout, colBias: nil, rowBias: bias, activation, ctx)
        }
    }

    // MARK: scalar references (plain loops over every output and tap)

    /// Calls `body(outIndex, tapIndex, inIndex?)` for every output position and kernel tap of one
    /// window geometry: `image = grid * stride - pad + tap * dilation`, nil when in padding.
    static func referenceWindow(grid: [Int], image: [Int], kernel: [Int], strides: [Int], padBegin: [Int],
                                dilations: [Int], _ body: (Int, Int, Int?) -> Void) {
        let nd = grid.count
        let gridCount = Tensor.elementCount(grid), tapCount = Tensor.elementCount(kernel)
        for o in 0..<gridCount {
            var gi = [Int](repeating: 0, count: nd)
            var r = o
            for d in stride(from: nd - 1, through: 0, by: -1) { gi[d] = r % grid[d]; r /= grid[d] }
            for t in 0..<tapCount {
                var ti = [Int](repeating: 0, count: nd)
                var q = t
                for d in stride(from: nd - 1, through: 0, by: -1) { ti[d] = q % kernel[d]; q /= kernel[d] }
                var offset = 0
                var inside = true
                for d in 0..<nd {
                    let pos = gi[d] * strides[d] - padBegin[d] + ti[d] * dilations[d]
                    if pos < 0 || pos >= image[d] { inside = false; break }
                    offset = offset * image[d] + pos
                }
                body(o, t, inside ? offset : nil)
            }
        }
    }

    static func referenceConv(_ g: Convolution.Geometry, x: [Float], weight: [Float], bias: [Float]?,
                              residual: [Float]? = nil, preRelu: Bool = false, activation: Activation) -> [Float] {
        let p = g.outSize, cg = g.inChannels / g.group, mg = g.outChannels / g.group, kk = g.kernelSize
        var y = [Float](repeating: 0, count: g.batch * g.outChannels * p)
        for n in 0..<g.batch {
            for oc in 0..<g.outChannels {
                let gi = oc / mg
                var acc = [Double](repeating: Double(bias?[oc] ?? 0), count: p)
                for ic in 0..<cg {
                    let xBase = (n * g.inChannels + gi * cg + ic) * g.inSize
                    let wBase = (oc * cg + ic) * kk
                    referenceWindow(grid: g.outSpatial, image: g.inSpatial, kernel: g.kernel, strides: g.strides,
                                    padBegin: g.padBegin, dilations: g.dilations) { o, t, i in
                        if let i { acc[o] += Double(preRelu ? Swift.max(x[xBase + i], 0) : x[xBase + i]) * Double(weight[wBase + t]) }
                    }
                }
                for o in 0..<p {
                    let at = (n * g.outChannels + oc) * p + o
                    y[at] = GemmKernels.referenceActivation(Float(acc[o] + Double(residual?[at] ?? 0)), activation)
                }
            }
        }
        return y
    }

    static func referenceConvTranspose(_ g: Convolution.Geometry, x: [Float], weight: [Float], bias: [Float]?,
                                       activation: Activation) -> [Float] {
        let pin = g.inSize, pout = g.outSize, cg = g.inChannels / g.group, mg = g.outChannels / g.group, kk = g.kernelSize
        var acc = [Double](repeating: 0, count: g.batch * g.outChannels * pout)
        for n in 0..<g.batch {
            for ic in 0..<g.inChannels {
                let gi = ic / cg
                for j in 0..<mg {
                    let oc = gi * mg + j
                    let wBase = (ic * mg + j) * kk
                    referenceWindow(grid: g.inSpatial, image: g.outSpatial, kernel: g.kernel, strides: g.strides,
                                    padBegin: g.padBegin, dilations: g.dilations) { q, t, o in
                        if let o { acc[(n * g.outChannels + oc) * pout + o] += Double(x[(n * g.inChannels + ic) * pin + q]) * Double(weight[wBase + t]) }
                    }
                }
            }
        }
        var y = [Float](repeating: 0, count: acc.count)
        for i in 0..<acc.count {
            let oc = (i / pout) % g.outChannels
            y[i] = GemmKernels.referenceActivation(Float(acc[i] + Double(bias?[oc] ?? 0)), activation)
        }
        return y
    }
}
