import CKernels

/// ConvTranspose whose windows do not overlap (kernel == stride, no padding, dilation 1, output
/// exactly input * stride; DPT's reassemble upsamplings): one sgemm W^T X per group into the
/// workspace, then a scatter-copy that writes every output once with the bias folded in (no zero
/// fill, no accumulating col2im).
enum ConvTransposeKernels {
    static func isNonOverlapping(_ g: Convolution.Geometry) -> Bool {
        g.kernel.count == 2 && g.kernel == g.strides && g.dilations.allSatisfy { $0 == 1 }
            && g.padBegin.allSatisfy { $0 == 0 } && g.padEnd.allSatisfy { $0 == 0 }
            && g.outSpatial == [g.inSpatial[0] * g.kernel[0], g.inSpatial[1] * g.kernel[1]]
    }

    /// Same contract as ConvolutionKernels.convTranspose, for geometries `isNonOverlapping` accepts;
    /// the workspace is the same column buffer (Convolution.columnBytes).
    static func nonOverlapping(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, activation: Activation,
                               _ ctx: ExecContext) throws {
        let pin = g.inSize, pout = g.outSize, m = g.outChannels, c = g.inChannels
        let cg = c / g.group, mg = m / g.group, kk = g.kernelSize, rows = mg * kk
        if g.batch == 0 || m == 0 || pout == 0 { return }
        guard pin > 0, rows > 0, cg > 0 else {
            // No input positions or channels: the output is the bias alone.
            y.initialize(repeating: 0, count: g.batch * m * pout)
            for n in 0..<g.batch {
                GemmKernels.biasActivation(y + n * m * pout, rows: m, cols: pout, ld: pout, colBias: nil, rowBias: bias, activation, ctx)
            }
            return
        }
        let floats = ctx.workspace == nil ? 0 : ctx.workspaceBytes / 4
        let chunk = Swift.min(pin, floats / rows)
        guard let col = ctx.workspace?.assumingMemoryBound(to: Float.self), chunk >= 1 else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a column of \(rows) floats")
        }
        let inH = Int64(g.inSpatial[0]), inW = Int64(g.inSpatial[1])
        let kh = Int64(g.kernel[0]), kw = Int64(g.kernel[1])
        for n in 0..<g.batch {
            for gi in 0..<g.group {
                let xg = x + (n * c + gi * cg) * pin, wg = weight + gi * cg * rows
                let yg = y + (n * m + gi * mg) * pout, bg = bias.map { $0 + gi * mg }
                var p0 = 0
                while p0 < pin {
                    let len = Swift.min(chunk, pin - p0)
                    try GemmKernels.sgemm(transA: true, transB: false, m: rows, n: len, k: cg, alpha: 1,
                                          a: wg, lda: rows, b: xg + p0, ldb: pin, beta: 0, c: col, ldc: len,
                                          threads: ctx.threads)
                    ctx.parallelFor(mg, costPerItem: kk * len) { r in
                        lseg_conv_transpose_scatter_2d(col, inH, inW, kh, kw, bg, Int64(r.lowerBound), Int64(r.upperBound),
                                                       Int64(p0), Int64(p0 + len), yg)
                    }
                    p0 += len
                }
            }
            if activation != .none {
                GemmKernels.biasActivation(y + n * m * pout, rows: m, cols: pout, ld: pout, colBias: nil, rowBias: nil, activation, ctx)
            }
        }
    }
}
