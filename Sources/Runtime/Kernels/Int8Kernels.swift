import CKernels

/// Drivers for the int8 GEMM kernels (Sources/CKernels/int8_gemm.c): on-the-fly activation
/// quantization, operand packing into the workspace, threaded tiles, fused dequantize epilogue.
///
/// Packing hook: the weights are packed (and their row sums taken) on every run, which costs
/// O(N*K) against the GEMM's O(M*N*K). Packing them once at load, keyed by the weight tensor,
/// would remove that step: `packWeightsForLinear` / `packWeightsForConv` are the places to cache.
enum Int8Kernels {
    /// The kernel path for this CPU (AVX2, NEON, NEON dotprod or scalar), detected once in C.
    static var path: Int32 { lseg_i8_best_path() }
    static func pathName(_ path: Int32) -> String { String(cString: lseg_i8_path_name(path)) }

    static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }

    /// Workspace of QLinear: quantized activations (rows), packed weights (cols), weight row sums
    /// and combined scales.
    struct LinearLayout {
        var rows = 0, cols = 0, sums = 0, scales = 0, bytes = 0
        init(path: Int32, m: Int, n: Int, k: Int) {
            cols = align(Int(lseg_i8_rows_bytes(path, Int64(m), Int64(k))))
            sums = cols + align(Int(lseg_i8_cols_bytes(path, Int64(n), Int64(k))))
            scales = sums + align(n * 4)
            bytes = scales + align(n * 4)
        }
    }

    /// Workspace of QConv: packed weights per group, row sums, scales, the quantized input of
    /// one batch item, and one column chunk (positions bounded like the fp32 im2col budget).
    struct ConvLayout {
        var rowsPerGroup = 0, sums = 0, scales = 0, input = 0, cols = 0, bytes = 0, chunk = 0
        init(path: Int32, _ g: Convolution.Geometry) {
            let mg = g.outChannels / g.group, k = g.inChannels / g.group * g.kernelSize
            let p = g.outSize
            rowsPerGroup = align(Int(lseg_i8_rows_bytes(path, Int64(mg), Int64(k))))
            sums = rowsPerGroup * g.group
            scales = sums + align(g.outChannels * 4)
            input = scales + align(g.outChannels * 4)
            cols = input + align(g.inChannels * g.inSize)
            let perPosition = Swift.max(1, Int(lseg_i8_kp(Int64(k))) * Int(lseg_i8_esize(path)))
            let fit = Swift.max(Int(LSEG_I8_NR), Convolution.columnBudgetBytes / perPosition / Int(LSEG_I8_NR) * Int(LSEG_I8_NR))
            chunk = Swift.min(p, fit)
            bytes = cols + align(Int(lseg_i8_cols_bytes(path, Int64(chunk), Int64(k))))
        }
    }

    private static func workspace(_ ctx: ExecContext, _ needed: Int, _ what: String) throws -> UnsafeMutableRawPointer {
        guard let ws = ctx.workspace, ctx.workspaceBytes >= needed else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is smaller than the \(needed) bytes \(what) needs")
        }
        return ws
    }

    /// Threads the packed product over (row block, column panel) tiles.
    static func gemm(path: Int32, rows: UnsafeRawPointer, cols: UnsafeRawPointer, m: Int, n: Int, k: Int,
                     epilogue: lseg_i8_epilogue, _ ctx: ExecContext) {
        let mr = Int(lseg_i8_mr(path)), block = mr * 4
        let rowBlocks = (m + block - 1) / block, panels = (n + Int(LSEG_I8_NR) - 1) / Int(LSEG_I8_NR)
        ctx.parallelFor(rowBlocks * panels, costPerItem: block * Int(LSEG_I8_NR) * Swift.max(k, 1)) { r in
            withUnsafePointer(to: epilogue) { ep in
                for item in r {
                    // Panel-major: a thread keeps one weight/column panel hot while rows stream by.
                    let pn = item / rowBlocks, rb = item % rowBlocks
                    lseg_i8_gemm(path, rows, cols, Int64(m), Int64(n), Int64(k), Int64(rb * block),
                                 Int64(Swift.min(m, (rb + 1) * block)), Int64(pn), Int64(pn + 1), ep, nil, 0)
                }
            }
        }
    }

    static func linear(path: Int32, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, weight: UnsafePointer<Int8>,
                       weightScales: [Float], bias: UnsafePointer<Float>?, input: (scale: Float, zeroPoint: Int32),
                       activation: Activation, y: UnsafeMutablePointer<Float>, _ ctx: ExecContext) throws {
        if m == 0 || n == 0 { return }
        let layout = LinearLayout(path: path, m: m, n: n, k: k)
        let ws = try workspace(ctx, layout.bytes, "QLinear")
        let rows = ws + layout.rows, cols = ws + layout.cols
        let sums = (ws + layout.sums).assumingMemoryBound(to: Int32.self)
        let scales = (ws + layout.scales).assumingMemoryBound(to: Float.self)
        let mr = Int(lseg_i8_mr(path)), mPadded = (m + mr - 1) / mr * mr
        ctx.parallelFor(m, costPerItem: 4 * k) { r in
            lseg_i8_quantize_rows(path, x, Int64(k), Int64(k), input.scale, input.zeroPoint,
                                  Int64(r.lowerBound), Int64(r.upperBound), rows)
        }
        // Rows past m only zero-fill the tile padding; the source is not read for them.
        lseg_i8_pack_rows(path, weight, Int64(k), Int64(m), Int64(k), Int64(m), Int64(mPadded), rows)
        packWeightsForLinear(path: path, weight: weight, n: n, k: k, cols: cols, sums: sums, ctx)
        for j in 0..<n { scales[j] = input.scale * weightScales[j] }
        let (code, alpha) = activation.kernelCode
        let ep = lseg_i8_epilogue(y: y, ldy: Int64(n), channel_axis: 1, zp_shift: 128 - input.zeroPoint,
                                  rowsum: sums, scale: scales, bias: bias, act: code, alpha: alpha)
        gemm(path: path, rows: rows, cols: cols, m: m, n: n, k: k, epilogue: ep, ctx)
    }

    /// Weights [N, K] into the column format plus their row sums (the once-per-weight step).
    static func packWeightsForLinear(path: Int32, weight: UnsafePointer<Int8>, n: Int, k: Int,
                                     cols: UnsafeMutableRawPointer, sums: UnsafeMutablePointer<Int32>, _ ctx: ExecContext) {
        let panels = (n + Int(LSEG_I8_NR) - 1) / Int(LSEG_I8_NR)
        ctx.parallelFor(panels, costPerItem: Int(LSEG_I8_NR) * k) { r in
            lseg_i8_pack_cols(path, weight, Int64(k), 1, Int64(n), Int64(k), Int64(r.lowerBound), Int64(r.upperBound), cols)
        }
        lseg_i8_row_sums(weight, Int64(k), Int64(n), Int64(k), sums)
    }

    /// Conv weights [Cout, K] into the row format per group plus their row sums.
    static func packWeightsForConv(path: Int32, weight: UnsafePointer<Int8>, group: Int, mg: Int, k: Int,
                                   rows: UnsafeMutableRawPointer, rowsPerGroup: Int, sums: UnsafeMutablePointer<Int32>) {
        let mr = Int(lseg_i8_mr(path)), mPadded = (mg + mr - 1) / mr * mr
        for gi in 0..<group {
            lseg_i8_pack_rows(path, weight + gi * mg * k, Int64(k), Int64(mg), Int64(k), 0, Int64(mPadded), rows + gi * rowsPerGroup)
        }
        lseg_i8_row_sums(weight, Int64(k), Int64(group * mg), Int64(k), sums)
    }

    static func conv(path: Int32, _ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Int8>,
                     weightScales: [Float], bias: UnsafePointer<Float>?, input: (scale: Float, zeroPoint: Int32),
                     activation: Activation, y: UnsafeMutablePointer<Float>, _ ctx: ExecContext) throws {
        let p = g.outSize, cout = g.outChannels, c = g.inChannels, inSize = g.inSize
        let cg = c / g.group, mg = cout / g.group, k = cg * g.kernelSize
        if p == 0 || cout == 0 || g.batch == 0 { return }
        let layout = ConvLayout(path: path, g)
        let ws = try workspace(ctx, layout.bytes, "QConv")
        let rows = ws, xq = (ws + layout.input).assumingMemoryBound(to: Int8.self), cols = ws + layout.cols
        let sums = (ws + layout.sums).assumingMemoryBound(to: Int32.self)
        let scales = (ws + layout.scales).assumingMemoryBound(to: Float.self)
        packWeightsForConv(path: path, weight: weight, group: g.group, mg: mg, k: k, rows: rows,
                           rowsPerGroup: layout.rowsPerGroup, sums: sums)
        for j in 0..<cout { scales[j] = input.scale * weightScales[j] }

        let twoD = g.kernel.count == 2
        var window = lseg_i8_window(
            channels: Int64(cg), height: Int64(twoD ? g.inSpatial[0] : 1), width: Int64(g.inSpatial[twoD ? 1 : 0]),
            out_height: Int64(twoD ? g.outSpatial[0] : 1), out_width: Int64(g.outSpatial[twoD ? 1 : 0]),
            kernel_h: Int64(twoD ? g.kernel[0] : 1), kernel_w: Int64(g.kernel[twoD ? 1 : 0]),
            stride_h: Int64(twoD ? g.strides[0] : 1), stride_w: Int64(g.strides[twoD ? 1 : 0]),
            pad_h: Int64(twoD ? g.padBegin[0] : 0), pad_w: Int64(g.padBegin[twoD ? 1 : 0]),
            dilation_h: Int64(twoD ? g.dilations[0] : 1), dilation_w: Int64(g.dilations[twoD ? 1 : 0]))
        // 1x1, stride 1, unpadded: the quantized input already is the [K, positions] matrix.
        let pointwise = g.kernel.allSatisfy { $0 == 1 } && g.strides.allSatisfy { $0 == 1 }
            && g.padBegin.allSatisfy { $0 == 0 } && g.padEnd.allSatisfy { $0 == 0 }
        let pad = Int8(truncatingIfNeeded: input.zeroPoint - 128)
        let (code, alpha) = activation.kernelCode
        let nr = Int(LSEG_I8_NR)

        for n in 0..<g.batch {
            let xn = x + n * c * inSize
            ctx.parallelFor(c, costPerItem: 4 * inSize) { r in
                lseg_i8_quantize(xn + r.lowerBound * inSize, Int64(r.count * inSize), input.scale, input.zeroPoint,
                                 xq + r.lowerBound * inSize)
            }
            for gi in 0..<g.group {
                let xg = xq + gi * cg * inSize
                var p0 = 0
                while p0 < p {
                    let len = Swift.min(layout.chunk, p - p0)
                    let panels = (len + nr - 1) / nr
                    withUnsafePointer(to: &window) { win in
                        ctx.parallelFor(panels, costPerItem: nr * k * (pointwise ? 1 : 2)) { r in
                            if pointwise {
                                lseg_i8_pack_cols(path, xg + p0, 1, Int64(p), Int64(len), Int64(k),
                                                  Int64(r.lowerBound), Int64(r.upperBound), cols)
                            } else {
                                lseg_i8_im2col_pack(path, xg, win, pad, Int64(p0), Int64(p0 + len),
                                                    Int64(r.lowerBound), Int64(r.upperBound), cols)
                            }
                        }
                    }
                    let ep = lseg_i8_epilogue(y: y + (n * cout + gi * mg) * p + p0, ldy: Int64(p), channel_axis: 0,
                                              zp_shift: 128 - input.zeroPoint, rowsum: sums + gi * mg,
                                              scale: scales + gi * mg, bias: bias.map { $0 + gi * mg },
                                              act: code, alpha: alpha)
                    gemm(path: path, rows: rows + gi * layout.rowsPerGroup, cols: cols, m: mg, n: len, k: k, epilogue: ep, ctx)
                    p0 += len
                }
            }
        }
    }
}
