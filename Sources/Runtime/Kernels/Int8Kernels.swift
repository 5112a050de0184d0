import CKernels
import Glibc

/// Drivers for the int8 kernels (Sources/CKernels/int8_gemm.c, int8_vnni.c): on-the-fly
/// activation quantization, operand packing into the workspace, threaded tiles, fused
/// dequantize epilogue.
///
/// Weights are packed once per model through `ctx.prepared` (kind strings name the path and
/// every layout parameter); without it (constant folding, tests) they are packed into the
/// workspace on every call, which is why the workspace always has room for them.
enum Int8Kernels {
    /// The kernel path for this CPU (AVX-512 VNNI, AVX2, NEON, NEON dotprod or scalar), detected once in C.
    static var path: Int32 { lseg_i8_best_path() }
    static func pathName(_ path: Int32) -> String { String(cString: lseg_i8_path_name(path)) }

    static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }

    /// Workspace of QLinear: quantized activations (rows), then the packed weights (cols), their
    /// row sums, and the combined scales.
    /// AVX-512 VNNI with k % 4 == 0 and n % 8 == 0 (every ViT linear) reads the weights in their
    /// own layout ("direct"): the quantized tokens are the packed side, only the weights' row sums
    /// are prepared, and the int8 weights are not duplicated in memory.
    struct LinearLayout {
        var direct = false
        var rows = 0, cols = 0, sums = 0, scales = 0, bytes = 0
        /// Direct path: the last `tail` tokens (ViT's class token) go through dot products from
        /// unsigned rows at `tailRows`; the panels cover the first m - tail.
        var tail = 0, tailRows = 0
        /// Bytes of the packed weights plus their row sums (the prepared layout).
        var weightBytes = 0
        init(path: Int32, m: Int, n: Int, k: Int) {
            if path == Int32(LSEG_I8_AVX512_VNNI) && k % 4 == 0 && n % 8 == 0 {
                direct = true
                let tokens = Int(LSEG_I8_VNNI_TOKENS)
                tail = Int(lseg_i8_vnni_tail_tokens(Int64(m)))
                tailRows = align((m - tail + tokens - 1) / tokens * tokens * k)
                sums = tailRows + align(tail * k)
                scales = sums + align(n * 4)
                bytes = scales + align(n * 4)
                weightBytes = n * 4
                return
            }
            cols = align(Int(lseg_i8_rows_bytes(path, Int64(m), Int64(k))))
            sums = cols + align(Int(lseg_i8_cols_bytes(path, Int64(n), Int64(k))))
            scales = sums + align(n * 4)
            bytes = scales + align(n * 4)
            weightBytes = scales - cols
        }
    }

    /// Workspace of QConv. Packed path: packed weights per group, row sums, scales, the
    /// quantized input of one batch item, and one column chunk (positions bounded like the fp32
    /// im2col budget). Direct path (AVX-512 VNNI, stride 1, one group): packed weights, row sums,
    /// scales and the padded, channel-interleaved quantized input.
    /// Patches path (a ViT patch embedding: 2-D, one group, a kernel larger than 1 x 1 with
    /// stride = kernel, no padding or dilation, and a product QLinear's direct path takes): the
    /// patches gathered as float rows [positions, C * kh * kw] (`input`), one QLinear product into
    /// [positions, Cout] (`cols`), transposed into y; QLinear's workspace follows at
    /// `bytes - linear`.
    /// Winograd path (`winogradPays`): the transformed weights (`weightBytes`), then one scratch
    /// slot per thread (`slots` of `slot` bytes from `input`).
    struct ConvLayout {
        var direct = false, patches = false, winograd = false
        var slot = 0, slots = 0
        var rowsPerGroup = 0, sums = 0, scales = 0, input = 0, cols = 0, bytes = 0, chunk = 0, linear = 0
        /// Bytes of the packed weights plus their row sums (the prepared layout).
        var weightBytes: Int { scales }
        var window = lseg_i8_window()

        init(path: Int32, _ g: Convolution.Geometry, winograd allowed: Bool = Int8Kernels.winogradEnabled) {
            let mg = g.outChannels / g.group, k = g.inChannels / g.group * g.kernelSize
            window = Int8Kernels.window(g)
            if allowed && Int8Kernels.winogradPays(path: path, g, &window) {
                winograd = true
                scales = align(Int(lseg_i8_winograd_weights_bytes(Int64(g.outChannels), &window)))
                input = scales
                slot = align(Int(lseg_i8_winograd_scratch_bytes(&window)))
                slots = Swift.max(1, Swift.min(WinogradKernels.maxSlices, Int(lseg_i8_winograd_blocks(&window))))
                bytes = input + slots * slot
                return
            }
            if g.group == 1, g.kernel.count == 2, g.kernelSize > 1, g.strides == g.kernel, g.dilations.allSatisfy({ $0 == 1 }),
               g.padBegin.allSatisfy({ $0 == 0 }), g.padEnd.allSatisfy({ $0 == 0 }),
               case let product = LinearLayout(path: path, m: g.outSize, n: g.outChannels, k: k), product.direct {
                patches = true
                linear = product.bytes
                cols = align(g.outSize * k * 4)
                bytes = cols + align(g.outSize * g.outChannels * 4) + linear
                return
            }
            if path == Int32(LSEG_I8_AVX512_VNNI) && g.group == 1 && lseg_i8_direct_supported(&window) != 0 {
                direct = true
                sums = align(Int(lseg_i8_direct_weights_bytes(Int64(g.outChannels), &window)))
                scales = sums + align(g.outChannels * 4)
                input = scales + align(g.outChannels * 4)
                bytes = input + align(Int(lseg_i8_direct_input_bytes(&window)))
                return
            }
            let p = g.outSize, nr = Int(lseg_i8_nr(path))
            rowsPerGroup = align(Int(lseg_i8_rows_bytes(path, Int64(mg), Int64(k))))
            sums = rowsPerGroup * g.group
            scales = sums + align(g.outChannels * 4)
            input = scales + align(g.outChannels * 4)
            cols = input + align(g.inChannels * g.inSize)
            let perPosition = Swift.max(1, Int(lseg_i8_kp(Int64(k))) * Int(lseg_i8_esize(path)))
            let fit = Swift.max(nr, Convolution.columnBudgetBytes / perPosition / nr * nr)
            chunk = Swift.min(p, fit)
            bytes = cols + align(Int(lseg_i8_cols_bytes(path, Int64(chunk), Int64(k))))
        }
    }

    /// Whether QConv may take the int8 Winograd path where it pays (LSEG_INT8_WINOGRAD=0 turns it
    /// off: every conv then gives the direct path's exact int8 sums).
    static let winogradEnabled: Bool = getenv("LSEG_INT8_WINOGRAD").map { String(cString: $0) } != "0"

    /// int8 Winograd F(2x2, 3x3) (int8_winograd.c) for a 3x3, stride 1, padding 1 conv on AVX-512
    /// VNNI with at least 64 input and 128 output channels and outputs at least 24 wide. One Zen 4
    /// core, against the direct kernel (its input quantization included), C -> K at H x W:
    /// 256 -> 256 at 96 x 96 1.6x faster, at 48 x 48 1.7x, at 24 x 24 1.25x (12-tile rows fill 12
    /// of 16 lanes), at 12 x 12 0.92x; 192 -> 256 at 48 x 48 1.65x; 96 -> 256 at 96 x 96 1.26x;
    /// 64 -> 64 at 40 x 40 0.98x (the input transforms, per input channel, weigh 4x more against
    /// 64 output channels' products than against 256).
    static func winogradPays(path: Int32, _ g: Convolution.Geometry, _ window: inout lseg_i8_window) -> Bool {
        path == Int32(LSEG_I8_AVX512_VNNI) && g.group == 1 && g.kernel.count == 2 && lseg_i8_winograd_supported(&window) != 0
            && g.inChannels >= 64 && g.outChannels >= 128 && g.outSpatial[1] >= 24
    }

    /// The 2-D (or 1-D as height 1) window of a convolution, in the C kernels' terms.
    static func window(_ g: Convolution.Geometry) -> lseg_i8_window {
        let twoD = g.kernel.count == 2
        return lseg_i8_window(
            channels: Int64(g.inChannels / g.group), height: Int64(twoD ? g.inSpatial[0] : 1),
            width: Int64(g.inSpatial[twoD ? 1 : 0]),
            out_height: Int64(twoD ? g.outSpatial[0] : 1), out_width: Int64(g.outSpatial[twoD ? 1 : 0]),
            kernel_h: Int64(twoD ? g.kernel[0] : 1), kernel_w: Int64(g.kernel[twoD ? 1 : 0]),
            stride_h: Int64(twoD ? g.strides[0] : 1), stride_w: Int64(g.strides[twoD ? 1 : 0]),
            pad_h: Int64(twoD ? g.padBegin[0] : 0), pad_w: Int64(g.padBegin[twoD ? 1 : 0]),
            dilation_h: Int64(twoD ? g.dilations[0] : 1), dilation_w: Int64(g.dilations[twoD ? 1 : 0]))
    }

    private static func workspace(_ ctx: ExecContext, _ needed: Int, _ what: String) throws -> UnsafeMutableRawPointer {
        guard let ws = ctx.workspace, ctx.workspaceBytes >= needed else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is smaller than the \(needed) bytes \(what) needs")
        }
        return ws
    }

    /// The weights' packed layout: made once in `ctx.prepared` when there is one, else packed
    /// into `scratch` now.
    private static func packedWeights(_ ctx: ExecContext, kind: String, weight: UnsafeRawPointer, bytes: Int,
                                      scratch: UnsafeMutableRawPointer,
                                      fill: (UnsafeMutableRawPointer) -> Void) -> UnsafeRawPointer {
        if let prepared = ctx.prepared(forInput: 1) {  // input 1: the int8 weight
            return prepared.layout(kind: kind, of: weight, byteCount: bytes, fill: fill)
        }
        fill(scratch)
        return UnsafeRawPointer(scratch)
    }

    /// Threads the packed product over (row block, column panel) tiles.
    static func gemm(path: Int32, rows: UnsafeRawPointer, cols: UnsafeRawPointer, m: Int, n: Int, k: Int,
                     epilogue: lseg_i8_epilogue, _ ctx: ExecContext) {
        let mr = Int(lseg_i8_mr(path)), nr = Int(lseg_i8_nr(path)), block = mr * 4
        let rowBlocks = (m + block - 1) / block, panels = (n + nr - 1) / nr
        ctx.parallelForBalanced(rowBlocks * panels, costPerItem: block * nr * Swift.max(k, 1)) { r in
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
        let rows = ws + layout.rows
        let scales = (ws + layout.scales).assumingMemoryBound(to: Float.self)
        for j in 0..<n { scales[j] = input.scale * weightScales[j] }
        let (code, alpha) = activation.kernelCode
        if layout.direct {
            let sums = packedWeights(ctx, kind: "int8-linear-rowsums/n\(n)/k\(k)", weight: weight, bytes: layout.weightBytes,
                                     scratch: ws + layout.sums) { dst in
                lseg_i8_row_sums(weight, Int64(k), Int64(n), Int64(k), dst.assumingMemoryBound(to: Int32.self))
            }.assumingMemoryBound(to: Int32.self)
            let tokens = Int(LSEG_I8_VNNI_TOKENS)
            let tail = layout.tail, mp = m - tail
            let cols = rows.assumingMemoryBound(to: UInt8.self), panels = (mp + tokens - 1) / tokens
            let tailRows = (ws + layout.tailRows).assumingMemoryBound(to: UInt8.self)
            // Item `panels` (when there is a tail) is the tail's rows.
            let parts = panels + (tail > 0 ? 1 : 0)
            ctx.parallelFor(parts, costPerItem: tokens * 4 * k) { r in
                let upper = Swift.min(r.upperBound, panels)
                if r.lowerBound < upper {
                    lseg_i8_vnni_quantize_cols(x, Int64(k), Int64(mp), Int64(k), input.scale, input.zeroPoint,
                                               Int64(r.lowerBound), Int64(upper), cols)
                }
                if r.upperBound > panels {
                    lseg_i8_vnni_quantize_tail(x + mp * k, Int64(k), Int64(tail), Int64(k), input.scale, input.zeroPoint, tailRows)
                }
            }
            let ep = lseg_i8_epilogue(y: y, ldy: Int64(n), channel_axis: 1, zp_shift: 128 - input.zeroPoint,
                                      rowsum: sums, scale: scales, bias: bias, act: code, alpha: alpha, residual: nil)
            // Items: 32 output channels x one token panel (or the tail); channel-major so a
            // thread streams each weight block once over the few token panels.
            let blocks = (n + 31) / 32
            ctx.parallelForBalanced(blocks * parts, costPerItem: 32 * tokens * k) { r in
                withUnsafePointer(to: ep) { epp in
                    for item in r {
                        let blk = item / parts, pn = item % parts
                        let lo = Int64(blk * 32), hi = Int64(Swift.min(n, blk * 32 + 32))
                        if pn == panels {
                            lseg_i8_vnni_linear_tail(weight, sums, tailRows, Int64(mp), Int64(tail), Int64(k), lo, hi, epp)
                        } else {
                            lseg_i8_vnni_linear(weight, sums, cols, Int64(mp), Int64(n), Int64(k), lo, hi, Int64(pn), Int64(pn + 1), epp)
                        }
                    }
                }
            }
            return
        }
        let mr = Int(lseg_i8_mr(path)), mPadded = (m + mr - 1) / mr * mr
        ctx.parallelFor(m, costPerItem: 4 * k) { r in
            lseg_i8_quantize_rows(path, x, Int64(k), Int64(m), Int64(k), input.scale, input.zeroPoint,
                                  Int64(r.lowerBound), Int64(r.upperBound), rows)
        }
        // Rows past m only zero-fill the tile padding; the source is not read for them.
        lseg_i8_pack_rows(path, weight, Int64(k), Int64(m), Int64(k), Int64(m), Int64(mPadded), rows)
        let colBytes = layout.sums - layout.cols
        let packed = packedWeights(ctx, kind: "int8-linear-cols/\(pathName(path))/n\(n)/k\(k)", weight: weight,
                                   bytes: layout.weightBytes, scratch: ws + layout.cols) { dst in
            packWeightsForLinear(path: path, weight: weight, n: n, k: k, cols: dst,
                                 sums: (dst + colBytes).assumingMemoryBound(to: Int32.self), ctx)
        }
        let sums = (packed + colBytes).assumingMemoryBound(to: Int32.self)
        let ep = lseg_i8_epilogue(y: y, ldy: Int64(n), channel_axis: 1, zp_shift: 128 - input.zeroPoint,
                                  rowsum: sums, scale: scales, bias: bias, act: code, alpha: alpha, residual: nil)
        gemm(path: path, rows: rows, cols: packed, m: m, n: n, k: k, epilogue: ep, ctx)
    }

    /// Weights [N, K] into the column format plus their row sums (the once-per-weight step).
    static func packWeightsForLinear(path: Int32, weight: UnsafePointer<Int8>, n: Int, k: Int,
                                     cols: UnsafeMutableRawPointer, sums: UnsafeMutablePointer<Int32>, _ ctx: ExecContext) {
        let nr = Int(lseg_i8_nr(path)), panels = (n + nr - 1) / nr
        ctx.parallelFor(panels, costPerItem: nr * k) { r in
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

    /// Bytes QConvTranspose needs: the input transposed to pixel rows, the pixel-major product
    /// and QLinear's own workspace after them.
    static func convTransposeWorkspace(path: Int32, _ s: Int8Ops.TransposeShapes) -> Int {
        align(s.pixels * s.inChannels * 4) + align(s.pixels * s.rows * 4)
            + LinearLayout(path: path, m: s.pixels, n: s.rows, k: s.inChannels).bytes
    }

    /// dst[j * rows + i] = src[i * cols + j] ([rows, cols] -> [cols, rows]) in 32 x 32 blocks,
    /// threads over blocks of 32 destination rows.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>,
                          _ ctx: ExecContext) {
        ctx.parallelFor((cols + 31) / 32, costPerItem: 32 * rows) { r in
            for jb in r {
                let j0 = jb * 32, j1 = Swift.min(cols, j0 + 32)
                var i0 = 0
                while i0 < rows {
                    let i1 = Swift.min(rows, i0 + 32)
                    for i in i0..<i1 { for j in j0..<j1 { dst[j * rows + i] = src[i * cols + j] } }
                    i0 = i1
                }
            }
        }
    }

    /// QConvTranspose (see Op.qConvTranspose): per image, x transposed to [pixels, Cin], one
    /// QLinear product [pixels, Cout * kh * kw] (its kernels, its epilogue: per-row scales), then
    /// every output written once from it with the bias added.
    static func convTranspose(path: Int32, _ s: Int8Ops.TransposeShapes, x: UnsafePointer<Float>, weight: UnsafePointer<Int8>,
                              weightScales: [Float], bias: UnsafePointer<Float>?, input: (scale: Float, zeroPoint: Int32),
                              activation: Activation, y: UnsafeMutablePointer<Float>, _ ctx: ExecContext) throws {
        let outPlane = s.pixels * s.kh * s.kw
        if s.batch == 0 || s.outChannels == 0 || outPlane == 0 { return }
        let ws = try workspace(ctx, convTransposeWorkspace(path: path, s), "QConvTranspose")
        let xt = ws.assumingMemoryBound(to: Float.self)
        let z = (ws + align(s.pixels * s.inChannels * 4)).assumingMemoryBound(to: Float.self)
        let linearOffset = align(s.pixels * s.inChannels * 4) + align(s.pixels * s.rows * 4)
        let inner = ctx.workspace(after: linearOffset)
        let (c, p, rows, kh, kw, width) = (s.inChannels, s.pixels, s.rows, s.kh, s.kw, s.width)
        for n in 0..<s.batch {
            let xn = x + n * c * p, yn = y + n * s.outChannels * outPlane
            transpose(xn, rows: c, cols: p, into: xt, ctx)   // [C, pixels] -> [pixels, C]
            try linear(path: path, m: p, n: rows, k: c, x: xt, weight: weight, weightScales: weightScales, bias: nil,
                       input: input, activation: .none, y: z, inner)
            ctx.parallelFor(s.outChannels, costPerItem: outPlane) { r in
                lseg_conv_transpose_scatter_pixels_2d(z, Int64(rows), Int64(s.height), Int64(width), Int64(kh), Int64(kw),
                                                      bias, Int64(r.lowerBound), Int64(r.upperBound), yn)
            }
            if activation != .none {
                GemmKernels.biasActivation(yn, rows: s.outChannels, cols: outPlane, ld: outPlane, colBias: nil, rowBias: nil, activation, ctx)
            }
        }
    }

    static func conv(path: Int32, _ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Int8>,
                     weightScales: [Float], bias: UnsafePointer<Float>?, input: (scale: Float, zeroPoint: Int32),
                     activation: Activation, residual: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>,
                     _ ctx: ExecContext) throws {
        let p = g.outSize, cout = g.outChannels, c = g.inChannels, inSize = g.inSize
        let cg = c / g.group, mg = cout / g.group, k = cg * g.kernelSize
        if p == 0 || cout == 0 || g.batch == 0 { return }
        let layout = ConvLayout(path: path, g)
        let ws = try workspace(ctx, layout.bytes, "QConv")
        let (code, alpha) = activation.kernelCode
        var window = layout.window
        let shape = "c\(cg)/o\(cout)/g\(g.group)/k\(g.kernel)"

        if layout.patches {
            let xt = (ws + layout.input).assumingMemoryBound(to: Float.self), z = (ws + layout.cols).assumingMemoryBound(to: Float.self)
            let inner = ctx.workspace(after: layout.bytes - layout.linear)
            let (kh, kw, sh, sw) = (g.kernel[0], g.kernel[1], g.strides[0], g.strides[1])
            let (h, w, outW) = (g.inSpatial[0], g.inSpatial[1], g.outSpatial[1])
            for n in 0..<g.batch {
                let xn = x + n * c * inSize, yn = y + n * cout * p
                // Row q of xt is output position q's patch in the weights' (channel, kh, kw) order.
                ctx.parallelFor(p, costPerItem: k) { r in
                    for q in r {
                        let oy = q / outW, ox = q % outW
                        var dst = xt + q * k
                        for ch in 0..<c {
                            for i in 0..<kh {
                                let src = xn + (ch * h + oy * sh + i) * w + ox * sw
                                dst.update(from: src, count: kw)
                                dst += kw
                            }
                        }
                    }
                }
                try linear(path: path, m: p, n: cout, k: k, x: xt, weight: weight, weightScales: weightScales, bias: bias,
                           input: input, activation: residual == nil ? activation : .none, y: z, inner)
                transpose(z, rows: p, cols: cout, into: yn, ctx)   // [positions, Cout] -> [Cout, positions]
            }
            if let residual { ConvolutionKernels.addResidual(g, y: y, residual, activation, ctx) }
            return
        }

        if layout.winograd {
            // Transformed weights (with their per-channel scales folded in) prepared once.
            let packed = packedWeights(ctx, kind: "int8-conv-winograd/\(shape)", weight: weight, bytes: layout.weightBytes,
                                       scratch: ws) { dst in
                weightScales.withUnsafeBufferPointer { sc in
                    withUnsafePointer(to: &window) { lseg_i8_winograd_pack_weights(weight, sc.baseAddress, Int64(cout), $0, dst) }
                }
            }
            // The static quantization's range: its clamp (ReLU when the zero point is 0) and saturation.
            let lo = -Float(input.zeroPoint) * input.scale, hi = Float(255 - input.zeroPoint) * input.scale
            let blocks = Int(lseg_i8_winograd_blocks(&window)), scratch = ws + layout.input, slot = layout.slot
            for n in 0..<g.batch {
                var ep = lseg_i8_epilogue(y: y + n * cout * p, ldy: Int64(p), channel_axis: 0, zp_shift: 0, rowsum: nil,
                                          scale: nil, bias: bias, act: code, alpha: alpha,
                                          residual: residual.map { $0 + n * cout * p })
                let xn = x + n * c * inSize
                withUnsafePointer(to: &window) { win in
                    withUnsafePointer(to: &ep) { epp in
                        ctx.parallelItems(blocks, slots: layout.slots, costPerItem: Int.max / Swift.max(blocks, 1)) { s, b in
                            lseg_i8_winograd_conv(xn, lo, hi, packed, Int64(cout), win, Int64(b), Int64(b + 1),
                                                  scratch + s * slot, epp)
                        }
                    }
                }
            }
            return
        }

        // The direct and packed paths' combined scales (the patches path's QLinear and the Winograd
        // filters carry their own).
        let scales = (ws + layout.scales).assumingMemoryBound(to: Float.self)
        for j in 0..<cout { scales[j] = input.scale * weightScales[j] }

        if layout.direct {
            let sumsOffset = layout.sums
            let packed = packedWeights(ctx, kind: "int8-conv-direct/\(pathName(path))/\(shape)", weight: weight,
                                       bytes: layout.weightBytes, scratch: ws) { dst in
                withUnsafePointer(to: &window) { lseg_i8_direct_pack_weights(weight, Int64(cout), $0, dst) }
                lseg_i8_row_sums(weight, Int64(k), Int64(cout), Int64(k), (dst + sumsOffset).assumingMemoryBound(to: Int32.self))
            }
            let sums = (packed + sumsOffset).assumingMemoryBound(to: Int32.self)
            let xq = (ws + layout.input).assumingMemoryBound(to: UInt8.self)
            let groups4 = (cg + 3) / 4, outH = Int(window.out_height), outW = Int(window.out_width)
            for n in 0..<g.batch {
                let xn = x + n * c * inSize
                withUnsafePointer(to: &window) { win in
                    ctx.parallelFor(groups4, costPerItem: 16 * inSize) { r in
                        lseg_i8_direct_quantize_input(xn, win, input.scale, input.zeroPoint, Int64(r.lowerBound),
                                                      Int64(r.upperBound), xq)
                    }
                    // The residual is added in the tiles' output stage, before the activation.
                    var ep = lseg_i8_epilogue(y: y + n * cout * p, ldy: Int64(p), channel_axis: 0,
                                              zp_shift: 128 - input.zeroPoint, rowsum: sums, scale: scales,
                                              bias: bias, act: code, alpha: alpha, residual: residual.map { $0 + n * cout * p })
                    // Work items of whole tiles: narrow outputs stack three rows per tile.
                    let step = Int(lseg_i8_direct_rows_per_tile(win))
                    withUnsafePointer(to: &ep) { epp in
                        ctx.parallelForBalanced((outH + step - 1) / step, costPerItem: step * outW * cout * k) { r in
                            lseg_i8_direct_conv(xq, packed, Int64(cout), win, Int64(r.lowerBound * step),
                                                Int64(Swift.min(outH, r.upperBound * step)), epp)
                        }
                    }
                }
            }
            return
        }

        let rowsPerGroup = layout.rowsPerGroup, sumsOffset = layout.sums
        let packed = packedWeights(ctx, kind: "int8-conv-rows/\(pathName(path))/\(shape)", weight: weight,
                                   bytes: layout.weightBytes, scratch: ws) { dst in
            packWeightsForConv(path: path, weight: weight, group: g.group, mg: mg, k: k, rows: dst,
                               rowsPerGroup: rowsPerGroup, sums: (dst + sumsOffset).assumingMemoryBound(to: Int32.self))
        }
        let sums = (packed + sumsOffset).assumingMemoryBound(to: Int32.self)
        let xq = (ws + layout.input).assumingMemoryBound(to: Int8.self), cols = ws + layout.cols
        // 1x1, stride 1, unpadded: the quantized input already is the [K, positions] matrix.
        let pointwise = g.kernel.allSatisfy { $0 == 1 } && g.strides.allSatisfy { $0 == 1 }
            && g.padBegin.allSatisfy { $0 == 0 } && g.padEnd.allSatisfy { $0 == 0 }
        let pad = Int8(truncatingIfNeeded: input.zeroPoint - 128)
        let nr = Int(lseg_i8_nr(path))
        // With a residual, the activation waits for the add after all products.
        let (tileCode, tileAlpha) = residual == nil ? (code, alpha) : Activation.none.kernelCode

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
                                              act: tileCode, alpha: tileAlpha, residual: nil)
                    gemm(path: path, rows: packed + gi * rowsPerGroup, cols: cols, m: mg, n: len, k: k, epilogue: ep, ctx)
                    p0 += len
                }
            }
        }
        if let residual { ConvolutionKernels.addResidual(g, y: y, residual, activation, ctx) }
    }
}
