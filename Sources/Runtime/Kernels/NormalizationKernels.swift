import CKernels
import Glibc

/// Softmax, LayerNorm and BatchNorm kernels. Last-axis float32 Softmax and LayerNorm use the
/// vectorized C rows; the scalar references here (Double accumulation, libm exp) are what the
/// tests hold them to.
enum NormalizationKernels {
    /// A small parameter tensor (scale, bias, ...) as floats broadcast to `shape`.
    static func floats(_ v: TensorView, broadcastTo shape: [Int]) -> [Float] {
        let n = Tensor.elementCount(shape)
        let strides = Broadcast.strides(v.shape, to: shape)
        let w = StridedWalk(dims: shape, strides: [strides])
        var out = [Float](repeating: 0, count: n)
        var at = 0
        w.forEachRun(0..<n) { off, len in
            let s = w.innerStride(0)
            for k in 0..<len {
                let i = off[0] + k * s
                out[at] = v.dtype == .float16 ? Float16Conversion.float(fromBits: v.pointer(UInt16.self)[i]) : v.pointer(Float.self)[i]
                at += 1
            }
        }
        return out
    }

    // MARK: Softmax

    static func softmax(_ x: TensorView, axis: Int, _ out: TensorView, _ ctx: ExecContext) {
        let outer = Tensor.elementCount(Array(x.shape[..<axis]))
        let n = x.shape[axis]
        let inner = Tensor.elementCount(Array(x.shape[(axis + 1)...]))
        guard x.count > 0 else { return }
        if inner == 1 && x.dtype == .float32 {
            let px = x.pointer(Float.self), py = out.pointer(Float.self)
            ctx.parallelFor(outer, costPerItem: n * 4) { r in
                lseg_softmax_rows_f32(px + r.lowerBound * n, py + r.lowerBound * n, r.count, n)
            }
            return
        }
        // Strided or float16: gather each line into floats, run the row kernel, scatter back.
        ctx.parallelFor(outer * inner, costPerItem: n * 6) { r in
            var line = [Float](repeating: 0, count: n)
            line.withUnsafeMutableBufferPointer { buf in
                let f = buf.baseAddress!
                for job in r {
                    let base = (job / inner) * n * inner + job % inner
                    load(x, base, inner, f, n)
                    lseg_softmax_rows_f32(f, f, 1, n)
                    store(f, out, base, inner, n)
                }
            }
        }
    }

    @inline(__always) static func load(_ x: TensorView, _ base: Int, _ stride: Int, _ f: UnsafeMutablePointer<Float>, _ n: Int) {
        if x.dtype == .float32 {
            let p = x.pointer(Float.self) + base
            for k in 0..<n { f[k] = p[k * stride] }
        } else {
            let p = x.pointer(UInt16.self) + base
            for k in 0..<n { f[k] = Float16Conversion.float(fromBits: p[k * stride]) }
        }
    }

    @inline(__always) static func store(_ f: UnsafePointer<Float>, _ y: TensorView, _ base: Int, _ stride: Int, _ n: Int) {
        if y.dtype == .float32 {
            let p = y.pointer(Float.self) + base
            for k in 0..<n { p[k * stride] = f[k] }
        } else {
            let p = y.pointer(UInt16.self) + base
            for k in 0..<n { p[k * stride] = Float16Conversion.bits(from: f[k]) }
        }
    }

    /// Reference softmax over contiguous rows: Double sums, libm exp; all -inf rows give NaN.
    static func softmaxReference(_ x: [Float], rowLength n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<(n == 0 ? 0 : x.count / n) {
            let row = x[(r * n)..<(r * n + n)]
            let m = row.max()!
            if m == -.infinity || m.isNaN {
                for i in 0..<n { y[r * n + i] = .nan }
                continue
            }
            var s = 0.0
            for v in row { s += Double(expf(v - m)) }
            for i in 0..<n { y[r * n + i] = Float(Double(expf(x[r * n + i] - m)) / s) }
        }
        return y
    }

    // MARK: LayerNorm

    static func layerNorm(_ x: TensorView, rowLength n: Int, scale: [Float], bias: [Float]?, epsilon: Float,
                          _ out: TensorView, _ ctx: ExecContext) {
        guard n > 0, x.count > 0 else { return }
        let rows = x.count / n
        scale.withUnsafeBufferPointer { s in
            let s = s.baseAddress!
            func withBias(_ body: (UnsafePointer<Float>?) -> Void) {
                if let bias { bias.withUnsafeBufferPointer { body($0.baseAddress!) } } else { body(nil) }
            }
            withBias { b in
                if x.dtype == .float32 {
                    let px = x.pointer(Float.self), py = out.pointer(Float.self)
                    ctx.parallelFor(rows, costPerItem: n * 3) { r in
                        lseg_layernorm_rows_f32(px + r.lowerBound * n, s, b, py + r.lowerBound * n, r.count, n, epsilon)
                    }
                    return
                }
                ctx.parallelFor(rows, costPerItem: n * 5) { r in
                    var line = [Float](repeating: 0, count: n)
                    line.withUnsafeMutableBufferPointer { buf in
                        let f = buf.baseAddress!
                        for row in r {
                            Float16Conversion.toFloat(x.pointer(UInt16.self) + row * n, f, count: n)
                            lseg_layernorm_rows_f32(f, s, b, f, 1, n, epsilon)
                            Float16Conversion.toHalf(f, out.pointer(UInt16.self) + row * n, count: n)
                        }
                    }
                }
            }
        }
    }

    /// Reference LayerNorm over contiguous rows with Double statistics.
    static func layerNormReference(_ x: [Float], rowLength n: Int, scale: [Float], bias: [Float]?, epsilon: Float) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / n) {
            var mean = 0.0
            for i in 0..<n { mean += Double(x[r * n + i]) }
            mean /= Double(n)
            var v = 0.0
            for i in 0..<n { let d = Double(x[r * n + i]) - mean; v += d * d }
            let inv = 1 / (v / Double(n) + Double(epsilon)).squareRoot()
            for i in 0..<n {
                y[r * n + i] = Float((Double(x[r * n + i]) - mean) * inv * Double(scale[i]) + Double(bias?[i] ?? 0))
            }
        }
        return y
    }

    // MARK: BatchNorm

    /// y = (x - mean) / sqrt(var + eps) * scale + bias per channel (dim 1).
    static func batchNorm(_ x: TensorView, scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float,
                          _ out: TensorView, _ ctx: ExecContext) {
        let c = x.shape[1]
        let inner = Tensor.elementCount(Array(x.shape[2...]))
        let planes = x.count / Swift.max(inner, 1)
        guard x.count > 0 else { return }
        var a = [Float](repeating: 0, count: c), b = a
        for k in 0..<c {
            a[k] = scale[k] / (variance[k] + epsilon).squareRoot()
            b[k] = bias[k] - mean[k] * a[k]
        }
        ctx.parallelFor(planes, costPerItem: inner) { r in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: ElementwiseKernels.chunk) { buf in
                let f = buf.baseAddress!
                for plane in r {
                    let k = plane % c, ak = a[k], bk = b[k]
                    if x.dtype == .float32 {
                        let px = x.pointer(Float.self) + plane * inner, py = out.pointer(Float.self) + plane * inner
                        for i in 0..<inner { py[i] = px[i] * ak + bk }
                    } else {
                        var i = 0
                        while i < inner {
                            let m = Swift.min(ElementwiseKernels.chunk, inner - i)
                            Float16Conversion.toFloat(x.pointer(UInt16.self) + plane * inner + i, f, count: m)
                            for j in 0..<m { f[j] = f[j] * ak + bk }
                            Float16Conversion.toHalf(f, out.pointer(UInt16.self) + plane * inner + i, count: m)
                            i += m
                        }
                    }
                }
            }
        }
    }
}
