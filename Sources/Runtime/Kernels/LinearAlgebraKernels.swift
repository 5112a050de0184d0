import CKernels
import COpenBLAS
import Glibc

/// fp32 GEMM through OpenBLAS, fused bias + activation, and the scalar references tests use.
enum GemmKernels {
    /// OpenBLAS keeps one global thread count; set it only when a run asks for a different one.
    private final class BlasThreadCount: @unchecked Sendable {
        let lock = PThreadLock()
        var current = 0
    }
    private static let blasThreads = BlasThreadCount()

    static func useThreads(_ n: Int) {
        blasThreads.lock.lock()
        defer { blasThreads.lock.unlock() }
        if blasThreads.current != n {
            openblas_set_num_threads(Int32(n))
            blasThreads.current = n
        }
    }

    /// C[m, n] = alpha * op(A) * op(B) + beta * C, row-major, with leading dimensions.
    /// op(A) is [m, k] (A stored [k, m] when transA); op(B) is [k, n] (B stored [n, k] when transB).
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) throws {
        if m == 0 || n == 0 { return }
        let limit = Int(Int32.max)
        guard m <= limit, n <= limit, k <= limit, lda <= limit, ldb <= limit, ldc <= limit else {
            throw OpError("matrix dimensions \(m)x\(k)x\(n) exceed the BLAS 32-bit index range")
        }
        if k == 0 {
            // BLAS rejects lda = 0 on some builds; the product is empty, so C = beta * C.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        // OpenBLAS runs single-threaded and the product is split over our own workers instead:
        // OpenBLAS's pool spin-waits (sched_yield) for about 0.1 s after every threaded call, which
        // took a core from our kernels running between GEMMs (16 % of all samples in a vitl16
        // int8 profile). Splitting the larger of m and n leaves each output's sum over k alone.
        useThreads(1)
        // One part per thread: more parts would let a thread slowed by another process do fewer,
        // but each part packs the shared operand again (X of 577 x 1024 per vitl16 Linear), and
        // two per thread measured 2-7 % slower on vitl16's image graph (3 alternations).
        let parts = threads > 1 ? min(threads, max(m, n) / 64, m * n * k / Self.splitMinimum) : 1
        func call(_ i0: Int, _ i1: Int, _ j0: Int, _ j1: Int) {
            let ap = transA ? a + i0 : a + i0 * lda, bp = transB ? b + j0 * ldb : b + j0
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(i1 - i0), Int32(j1 - j0), Int32(k), alpha, ap, Int32(lda), bp, Int32(ldb), beta,
                        c + i0 * ldc + j0, Int32(ldc))
        }
        if parts <= 1 {
            call(0, m, 0, n)
            return
        }
        let splitColumns = n >= m, length = splitColumns ? n : m, perLine = (splitColumns ? m : n) * k
        // Cuts on multiples of 64: every part but the last is whole micro-kernel tiles and the
        // last ends in the same partial tile as the whole product, so each output goes through
        // the same kernel code (and sum order) as in one call. A cut that would leave a part
        // under the minimum is dropped.
        var cuts = [0]
        for p in 1..<parts {
            let cut = (length * p / parts + 63) / 64 * 64
            if (cut - cuts[cuts.count - 1]) * perLine >= Self.splitMinimum, (length - cut) * perLine >= Self.splitMinimum {
                cuts.append(cut)
            }
        }
        cuts.append(length)
        let bounds = cuts
        // The parts write disjoint blocks of c; the pointers stay valid for the whole call.
        WorkerPool.shared.perform(iterations: bounds.count - 1) { p in
            if splitColumns { call(0, m, bounds[p], bounds[p + 1]) } else { call(bounds[p], bounds[p + 1], 0, n) }
        }
    }

    /// Multiply-adds each part must have: OpenBLAS (0.3.21 on Skylake-X) sends products up to
    /// 100^3 to a small-matrix kernel whose sums run in another order, so no part may fall there
    /// when the whole does not (and splitting such small products saves nothing anyway).
    static let splitMinimum = 1 << 20

    /// Adds `rowBias[r]` / `colBias[c]` (either optional) and applies `activation`, in place.
    static func biasActivation(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int,
                               colBias: UnsafePointer<Float>?, rowBias: UnsafePointer<Float>?,
                               _ activation: Activation, _ ctx: ExecContext) {
        let (code, alpha) = activation.kernelCode
        if code == LSEG_ACT_NONE && colBias == nil && rowBias == nil { return }
        ctx.parallelFor(rows, costPerItem: cols * (code == LSEG_ACT_GELU || code == LSEG_ACT_QUICKGELU ? 8 : 1)) { r in
            lseg_bias_activation(y + r.lowerBound * ld, Int64(r.count), Int64(cols), Int64(ld),
                                 colBias, rowBias.map { $0 + r.lowerBound }, code, alpha)
        }
    }

    // MARK: scalar references

    /// Plain triple loop (double accumulation) with the same contract as `sgemm`.
    static func referenceGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                              a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: inout [Float], ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * s + old)
            }
        }
    }

    /// numpy matmul by definition: 1-D promotion, right-aligned batch broadcasting, one dot
    /// product per output element. Returns the output and its shape (nil if shapes mismatch).
    static func referenceMatMul(_ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int]) -> ([Float], [Int])? {
        let a2 = aShape.count == 1 ? [1] + aShape : aShape
        let b2 = bShape.count == 1 ? bShape + [1] : bShape
        let m = a2[a2.count - 2], k = a2[a2.count - 1], n = b2[b2.count - 1]
        guard b2[b2.count - 2] == k else { return nil }
        let rank = Swift.max(a2.count, b2.count) - 2
        let ab = [Int](repeating: 1, count: rank - (a2.count - 2)) + a2.dropLast(2)
        let bb = [Int](repeating: 1, count: rank - (b2.count - 2)) + b2.dropLast(2)
        var batch = [Int]()
        for i in 0..<rank {
            guard ab[i] == bb[i] || ab[i] == 1 || bb[i] == 1 else { return nil }
            batch.append(Swift.max(ab[i], bb[i]))
        }
        let count = Tensor.elementCount(batch)
        var y = [Float](repeating: 0, count: count * m * n)
        for t in 0..<count {
            var r = t, ai = 0, bi = 0, aMul = 1, bMul = 1
            for d in stride(from: rank - 1, through: 0, by: -1) {
                let idx = r % batch[d]; r /= batch[d]
                ai += (ab[d] == 1 ? 0 : idx) * aMul; aMul *= ab[d]
                bi += (bb[d] == 1 ? 0 : idx) * bMul; bMul *= bb[d]
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(a[(ai * m + i) * k + p]) * Double(b[(bi * k + p) * n + j]) }
                    y[(t * m + i) * n + j] = Float(s)
                }
            }
        }
        var shape = batch
        if aShape.count > 1 { shape.append(m) }
        if bShape.count > 1 { shape.append(n) }
        return (y, shape)
    }

    /// The activation of one value, as the fused kernels compute it.
    static func referenceActivation(_ v: Float, _ activation: Activation) -> Float {
        switch activation {
        case .none: return v
        case .relu: return Swift.max(v, 0)
        case .gelu: return Float(0.5 * Double(v) * (1 + Glibc.erf(Double(v) / 2.0.squareRoot())))
        case .quickGelu: return Float(Double(v) / (1 + Glibc.exp(-1.702 * Double(v))))
        case .leakyRelu(let alpha): return v >= 0 ? v : alpha * v
        }
    }
}

extension Activation {
    /// The C kernels' activation code and parameter.
    var kernelCode: (Int32, Float) {
        switch self {
        case .none: return (Int32(LSEG_ACT_NONE), 0)
        case .relu: return (Int32(LSEG_ACT_RELU), 0)
        case .gelu: return (Int32(LSEG_ACT_GELU), 0)
        case .quickGelu: return (Int32(LSEG_ACT_QUICKGELU), 0)
        case .leakyRelu(let alpha): return (Int32(LSEG_ACT_LEAKYRELU), alpha)
        }
    }
}

/// float16 operands of the GEMM ops are widened to float32 in the workspace.
/// A private minimal conversion: Float16Conversion.swift (elementwise family) owns the shared one.
enum HalfWidening {
    static func widen(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { dst[i] = Float(Float16(bitPattern: s[i])) }
    }
    static func narrow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ count: Int) {
        let d = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = Float16(src[i]).bitPattern }
    }
}

/// fp32 Linear on weights packed in 32-column panels (`lseg_panel_linear`): the input rows are
/// packed once per call into the workspace, shared by all threads, then threads take groups of
/// panels as they free up (a thread slowed by another process takes fewer); bias and activation
/// are applied to each register tile as it is stored.
enum PanelLinearKernels {
    static let columns = Int(LSEG_PANEL_COLUMNS)
    static let rowTile = Int(LSEG_PANEL_ROWS)
    /// Panels per work item: 64 output columns.
    static let panelsPerItem = 2

    /// True when the AVX-512 tile runs on this CPU (`PanelLinearRewrite` packs only then).
    static var fast: Bool { lseg_cpu_has_avx512f() != 0 }

    static func packedRowFloats(rows: Int, k: Int) -> Int { Int(lseg_panel_row_floats(rows, k)) }

    /// y [m, n] = act(x [m, k] W + bias); `panels` as `lseg_panel_pack_weights` writes them,
    /// `packedRows` holds `packedRowFloats(rows: m, k: k)` floats. `fast: false` runs the scalar
    /// reference tile (the same bits).
    static func run(m: Int, k: Int, n: Int, x: UnsafePointer<Float>, panels: UnsafePointer<Float>,
                    packedRows: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                    _ activation: Activation, _ ctx: ExecContext, fast: Bool = true) {
        if m == 0 || n == 0 { return }
        let tiles = (m + rowTile - 1) / rowTile
        ctx.parallelFor(tiles, costPerItem: rowTile * k) { r in
            lseg_panel_pack_rows(x, m, k, r.lowerBound, r.upperBound, packedRows)
        }
        let panelCount = (n + columns - 1) / columns
        let items = (panelCount + panelsPerItem - 1) / panelsPerItem
        let (code, alpha) = activation.kernelCode
        ctx.parallelForBalanced(items, costPerItem: m * max(k, 1) * panelsPerItem * columns) { r in
            lseg_panel_linear(fast ? 1 : 0, packedRows, m, k, panels, n, r.lowerBound * panelsPerItem,
                              min(panelCount, r.upperBound * panelsPerItem), y, n, bias, code, alpha)
        }
    }
}
