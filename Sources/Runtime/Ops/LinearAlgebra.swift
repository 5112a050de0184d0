import CKernels
/// MatMul (numpy semantics), Gemm and the fused Linear (MatMul + bias + activation).
/// fp32 runs on OpenBLAS; float16 operands are widened into the workspace first.
enum LinearAlgebra {
    /// Shapes of a numpy matmul after 1-D promotion and batch broadcasting.
    struct MatMulGeometry: Equatable {
        var batch: [Int]
        var aBatch: [Int]   // padded with leading 1s to batch.count
        var bBatch: [Int]
        var m: Int, k: Int, n: Int
        var output: [Int]
    }

    static func matMulGeometry(_ a: [Int], _ b: [Int]) throws -> MatMulGeometry {
        guard !a.isEmpty, !b.isEmpty else { throw OpError("MatMul inputs must have rank >= 1 (got \(a) and \(b))") }
        let a2 = a.count == 1 ? [1, a[0]] : a
        let b2 = b.count == 1 ? [b[0], 1] : b
        let m = a2[a2.count - 2], k = a2[a2.count - 1], kb = b2[b2.count - 2], n = b2[b2.count - 1]
        guard k == kb else { throw OpError("MatMul inner dimensions differ: \(a) x \(b) (K \(k) vs \(kb))") }
        let ab = Array(a2.dropLast(2)), bb = Array(b2.dropLast(2))
        let rank = Swift.max(ab.count, bb.count)
        let ap = Array(repeating: 1, count: rank - ab.count) + ab
        let bp = Array(repeating: 1, count: rank - bb.count) + bb
        var batch = [Int]()
        for i in 0..<rank {
            if ap[i] == bp[i] || bp[i] == 1 { batch.append(ap[i]) } else if ap[i] == 1 { batch.append(bp[i]) } else {
                throw OpError("MatMul batch dimensions do not broadcast: \(a) x \(b)")
            }
        }
        var out = batch
        if a.count > 1 { out.append(m) }
        if b.count > 1 { out.append(n) }
        return MatMulGeometry(batch: batch, aBatch: ap, bBatch: bp, m: m, k: k, n: n, output: out)
    }

    static func gemmShapes(_ a: [Int], _ b: [Int], _ attrs: GemmAttrs) throws -> (m: Int, k: Int, n: Int) {
        guard a.count == 2, b.count == 2 else { throw OpError("Gemm needs 2-D A and B (got \(a) and \(b))") }
        let (m, k) = attrs.transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = attrs.transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == kb else { throw OpError("Gemm inner dimensions differ: A \(a) transA=\(attrs.transA), B \(b) transB=\(attrs.transB)") }
        return (m, k, n)
    }

    /// Strides to read a [.., d0, d1] tensor of shape `shape` broadcast to [m, n] (0 on broadcast axes).
    static func broadcastStrides2D(_ shape: [Int], m: Int, n: Int) throws -> (Int, Int) {
        guard shape.count <= 2 else { throw OpError("Gemm C must have rank <= 2 (got \(shape))") }
        let s = Array(repeating: 1, count: 2 - shape.count) + shape
        guard s[0] == 1 || s[0] == m, s[1] == 1 || s[1] == n else {
            throw OpError("Gemm C \(shape) does not broadcast to [\(m), \(n)]")
        }
        return (s[0] == 1 ? 0 : s[1], s[1] == 1 ? 0 : 1)
    }

    static func linearShapes(_ x: [Int], _ w: [Int], _ bias: [Int]?, _ attrs: LinearAttrs) throws -> (rows: Int, k: Int, n: Int, out: [Int]) {
        guard !x.isEmpty else { throw OpError("Linear input must have rank >= 1") }
        let k = x[x.count - 1]
        let kw: Int, n: Int
        if let columns = attrs.weightPanels {
            let width = PanelLinearKernels.columns
            // Compared without rounding columns up, so no huge value can overflow.
            guard !attrs.transB, columns > 0, w.count == 3, w[2] == width, w[0] >= 1,
                  columns <= w[0] * width, columns > (w[0] - 1) * width else {
                throw OpError("Linear weight \(w) is not \(width)-column panels of \(columns) columns (transB=\(attrs.transB))")
            }
            (kw, n) = (w[1], columns)
        } else {
            guard w.count == 2 else { throw OpError("Linear weight must be 2-D (got \(w))") }
            (kw, n) = attrs.transB ? (w[1], w[0]) : (w[0], w[1])
        }
        guard k == kw else { throw OpError("Linear input \(x) does not match weight \(w) (transB=\(attrs.transB)): K \(k) vs \(kw)") }
        if let bias {
            guard Tensor.elementCount(bias) == n, bias.last == n || (bias.isEmpty && n == 1) else {
                throw OpError("Linear bias \(bias) is not [\(n)]")
            }
        }
        return (Tensor.elementCount(Array(x.dropLast())), k, n, Array(x.dropLast()) + [n])
    }

    static func floatType(_ dtypes: [DType], _ name: String) throws -> DType {
        guard let first = dtypes.first else { throw OpError("\(name) has no inputs") }
        guard first == .float32 || first == .float16 else { throw OpError("\(name) supports float32 and float16, not \(first)") }
        guard dtypes.allSatisfy({ $0 == first }) else { throw OpError("\(name) inputs have mixed types \(dtypes)") }
        return first
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        func input(_ i: Int) throws -> ShapeInput {
            guard i < inputs.count, let v = inputs[i] else { throw OpError("\(op.typeName) is missing input \(i)") }
            return v
        }
        switch op {
        case .matMul:
            let a = try input(0), b = try input(1)
            let t = try floatType([a.dtype, b.dtype], "MatMul")
            return [TypedShape(t, try matMulGeometry(a.shape, b.shape).output)]
        case .gemm(let attrs):
            let a = try input(0), b = try input(1)
            let c = inputs.count > 2 ? inputs[2] : nil
            let t = try floatType([a.dtype, b.dtype] + (c.map { [$0.dtype] } ?? []), "Gemm")
            let (m, _, n) = try gemmShapes(a.shape, b.shape, attrs)
            if let c { _ = try broadcastStrides2D(c.shape, m: m, n: n) }
            return [TypedShape(t, [m, n])]
        case .linear(let attrs):
            let x = try input(0), w = try input(1)
            let bias = inputs.count > 2 ? inputs[2] : nil
            let t = try floatType([x.dtype, w.dtype] + (bias.map { [$0.dtype] } ?? []), "Linear")
            return [TypedShape(t, try linearShapes(x.shape, w.shape, bias?.shape, attrs).out)]
        default:
            throw OpError("\(op.typeName) is not a linear-algebra op")
        }
    }

    /// float16 inputs and output need float32 copies: each rounded up to 64 bytes. A Linear on
    /// weight panels also packs its input rows there.
    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        var bytes = 0
        for t in inputs.compactMap({ $0 }) + outputs where t.dtype == .float16 { bytes += alignedBytes(t.count) }
        if case .linear(let a) = op, a.weightPanels != nil, let x = inputs.first ?? nil, let k = x.shape.last, k > 0 {
            bytes += alignedBytes(PanelLinearKernels.packedRowFloats(rows: x.count / k, k: k))
        }
        return bytes
    }

    private static func alignedBytes(_ floats: Int) -> Int { (floats * 4 + 63) / 64 * 64 }

    /// Hands out float32 views of operands, widening float16 ones into the workspace.
    private struct Float32Operands {
        var next: UnsafeMutableRawPointer?
        var remaining: Int

        init(_ ctx: ExecContext) { next = ctx.workspace; remaining = ctx.workspace == nil ? 0 : ctx.workspaceBytes }

        mutating func scratch(_ count: Int) throws -> UnsafeMutablePointer<Float> {
            let bytes = alignedBytes(count)
            guard let p = next, bytes <= remaining else {
                throw OpError("workspace too small for float16 operands (\(remaining) bytes left, \(bytes) needed)")
            }
            next = p + bytes
            remaining -= bytes
            return p.assumingMemoryBound(to: Float.self)
        }

        mutating func read(_ v: TensorView) throws -> UnsafePointer<Float> {
            if v.dtype == .float32 { return UnsafePointer(v.pointer(Float.self)) }
            let p = try scratch(v.count)
            HalfWidening.widen(v.data, p, v.count)
            return UnsafePointer(p)
        }

        mutating func write(_ v: TensorView) throws -> UnsafeMutablePointer<Float> {
            v.dtype == .float32 ? v.pointer(Float.self) : try scratch(v.count)
        }

        func finish(_ v: TensorView, _ p: UnsafeMutablePointer<Float>) {
            if v.dtype == .float16 { HalfWidening.narrow(p, v.data, v.count) }
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        func input(_ i: Int) throws -> TensorView {
            guard i < inputs.count, let v = inputs[i] else { throw OpError("\(op.typeName) is missing input \(i)") }
            return v
        }
        guard let outView = outputs.first else { throw OpError("\(op.typeName) has no output") }
        var operands = Float32Operands(ctx)
        switch op {
        case .matMul:
            let av = try input(0), bv = try input(1)
            let g = try matMulGeometry(av.shape, bv.shape)
            let a = try operands.read(av), b = try operands.read(bv)
            let y = try operands.write(outView)
            try matMul(g, a, b, y, ctx)
            operands.finish(outView, y)
        case .gemm(let attrs):
            let av = try input(0), bv = try input(1)
            let cv = inputs.count > 2 ? inputs[2] : nil
            let (m, k, n) = try gemmShapes(av.shape, bv.shape, attrs)
            let a = try operands.read(av), b = try operands.read(bv)
            let y = try operands.write(outView)
            var beta: Float = 0
            if let cv, attrs.beta != 0 {
                let c = try operands.read(cv)
                let (s0, s1) = try broadcastStrides2D(cv.shape, m: m, n: n)
                for i in 0..<m { for j in 0..<n { y[i * n + j] = c[i * s0 + j * s1] } }
                beta = attrs.beta
            }
            try GemmKernels.sgemm(transA: attrs.transA, transB: attrs.transB, m: m, n: n, k: k, alpha: attrs.alpha,
                                  a: a, lda: attrs.transA ? m : k, b: b, ldb: attrs.transB ? k : n,
                                  beta: beta, c: y, ldc: n, threads: ctx.threads)
            operands.finish(outView, y)
        case .linear(let attrs):
            let xv = try input(0), wv = try input(1)
            let biasView = inputs.count > 2 ? inputs[2] : nil
            let (rows, k, n, _) = try linearShapes(xv.shape, wv.shape, biasView?.shape, attrs)
            let x = try operands.read(xv), w = try operands.read(wv)
            let bias = try biasView.map { try operands.read($0) }
            let y = try operands.write(outView)
            if attrs.weightPanels != nil {
                let packed = try operands.scratch(PanelLinearKernels.packedRowFloats(rows: rows, k: k))
                PanelLinearKernels.run(m: rows, k: k, n: n, x: x, panels: w, packedRows: packed, y: y, bias: bias,
                                       attrs.activation, ctx)
            } else {
                try GemmKernels.sgemm(transA: false, transB: attrs.transB, m: rows, n: n, k: k, alpha: 1,
                                      a: x, lda: k, b: w, ldb: attrs.transB ? k : n, beta: 0, c: y, ldc: n, threads: ctx.threads)
                GemmKernels.biasActivation(y, rows: rows, cols: n, ld: n, colBias: bias, rowBias: nil, attrs.activation, ctx)
            }
            operands.finish(outView, y)
        default:
            throw OpError("\(op.typeName) is not a linear-algebra op")
        }
    }

    /// Batched products up to this many multiply-adds each run on `lseg_small_matmul_f32`
    /// (any sequence length up to 128 with head width 64 stays below it).
    static let smallMatMulLimit = 1 << 21

    /// Batched matmul: one sgemm when B has no batch (batch folds into M), else one per batch.
    static func matMul(_ g: MatMulGeometry, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       _ y: UnsafeMutablePointer<Float>, _ ctx: ExecContext) throws {
        let batchCount = Tensor.elementCount(g.batch)
        let bBatchCount = Tensor.elementCount(g.bBatch)
        if bBatchCount == 1 {
            try GemmKernels.sgemm(transA: false, transB: false, m: batchCount * g.m, n: g.n, k: g.k, alpha: 1,
                                  a: a, lda: g.k, b: b, ldb: g.n, beta: 0, c: y, ldc: g.n, threads: ctx.threads)
            return
        }
        // Element strides of each operand's batch axes (0 where broadcast).
        func batchStrides(_ dims: [Int], _ matrix: Int) -> [Int] {
            var strides = Array(repeating: 0, count: dims.count)
            var s = matrix
            for i in stride(from: dims.count - 1, through: 0, by: -1) {
                strides[i] = dims[i] == 1 ? 0 : s
                s *= dims[i]
            }
            return strides
        }
        let aStrides = batchStrides(g.aBatch, g.m * g.k), bStrides = batchStrides(g.bBatch, g.k * g.n)
        if g.m * g.n * g.k <= smallMatMulLimit {
            // Attention-sized products: our kernel, batches spread over threads. Its per-output
            // summation order does not depend on k, which keeps causal truncation bit-exact.
            let m = g.m, n = g.n, k = g.k, batch = g.batch
            ctx.parallelFor(batchCount, costPerItem: m * n * k) { r in
                var index = Array(repeating: 0, count: batch.count)
                var rest = r.lowerBound
                for i in stride(from: batch.count - 1, through: 0, by: -1) { index[i] = rest % batch[i]; rest /= batch[i] }
                for t in r {
                    var ao = 0, bo = 0
                    for i in 0..<index.count { ao += index[i] * aStrides[i]; bo += index[i] * bStrides[i] }
                    lseg_small_matmul_f32(a + ao, k, b + bo, n, y + t * m * n, n, m, k, n)
                    for i in stride(from: index.count - 1, through: 0, by: -1) {
                        index[i] += 1
                        if index[i] < batch[i] { break }
                        index[i] = 0
                    }
                }
            }
            return
        }
        // Whole products per worker when there are enough of them (no split inside a product).
        let perProduct = batchCount >= ctx.threads ? 1 : ctx.threads
        var failure: Error?
        let lock = PThreadLock()
        ctx.parallelFor(batchCount, costPerItem: g.m * g.n * g.k) { r in
            var index = Array(repeating: 0, count: g.batch.count)
            var rest = r.lowerBound
            for i in stride(from: g.batch.count - 1, through: 0, by: -1) { index[i] = rest % g.batch[i]; rest /= g.batch[i] }
            for t in r {
                var ao = 0, bo = 0
                for i in 0..<index.count { ao += index[i] * aStrides[i]; bo += index[i] * bStrides[i] }
                do {
                    try GemmKernels.sgemm(transA: false, transB: false, m: g.m, n: g.n, k: g.k, alpha: 1,
                                          a: a + ao, lda: g.k, b: b + bo, ldb: g.n, beta: 0,
                                          c: y + t * g.m * g.n, ldc: g.n, threads: perProduct)
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                    return
                }
                for i in stride(from: index.count - 1, through: 0, by: -1) {
                    index[i] += 1
                    if index[i] < g.batch[i] { break }
                    index[i] = 0
                }
            }
        }
        if let failure { throw failure }
    }
}
