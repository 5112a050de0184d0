import CKernels
import Glibc

/// Elementwise kernels: broadcasting binary ops, where, unary functions and casts. Float16 is
/// computed in float32 through small stack buffers.
enum ElementwiseKernels {
    /// Elements converted per stack buffer when float16 goes through float32 code.
    static let chunk = 256

    // MARK: Walks

    /// A walk over `out` with each input read through broadcast strides.
    static func walk(_ out: TensorView, _ inputs: [TensorView]) -> StridedWalk {
        var strides = [Broadcast.contiguousStrides(out.shape)]
        for x in inputs { strides.append(Broadcast.strides(x.shape, to: out.shape)) }
        return StridedWalk(dims: out.shape, strides: strides)
    }

    /// Runs of the walk split across threads by output element ranges.
    static func parallelRuns(_ w: StridedWalk, _ ctx: ExecContext, cost: Int = 1,
                             _ body: (UnsafePointer<Int>, Int) -> Void) {
        ctx.parallelFor(w.count, costPerItem: cost) { range in w.forEachRun(range, body) }
    }

    // MARK: Binary, float32 / float16

    /// out = f(a, b) for float32 or float16 tensors (all the same dtype); `cop` selects the
    /// vectorized C loop when the op has one.
    static func floatBinary(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext,
                            cop: lseg_binary_op?, _ f: (Float, Float) -> Float) {
        let w = walk(out, [a, b])
        let sa = w.innerStride(1), sb = w.innerStride(2)
        let simd = cop != nil && (sa == 0 || sa == 1) && (sb == 0 || sb == 1)
        if out.dtype == .float32 {
            let pa = a.pointer(Float.self), pb = b.pointer(Float.self), po = out.pointer(Float.self)
            parallelRuns(w, ctx) { off, n in
                let oa = pa + off[1], ob = pb + off[2], oo = po + off[0]
                if simd {
                    lseg_binary_f32(Int32(cop!.rawValue), oa, Int32(sa), ob, Int32(sb), oo, n)
                } else {
                    for i in 0..<n { oo[i] = f(oa[i * sa], ob[i * sb]) }
                }
            }
            return
        }
        let pa = a.pointer(UInt16.self), pb = b.pointer(UInt16.self), po = out.pointer(UInt16.self)
        parallelRuns(w, ctx) { off, n in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * chunk) { buf in
                let fa = buf.baseAddress!, fb = fa + chunk, fo = fb + chunk
                var start = 0
                while start < n {
                    let m = Swift.min(chunk, n - start)
                    gatherHalves(pa + off[1] + start * sa, sa, fa, m)
                    gatherHalves(pb + off[2] + start * sb, sb, fb, m)
                    if let cop {
                        lseg_binary_f32(Int32(cop.rawValue), fa, 1, fb, 1, fo, m)
                    } else {
                        for i in 0..<m { fo[i] = f(fa[i], fb[i]) }
                    }
                    Float16Conversion.toHalf(fo, po + off[0] + start, count: m)
                    start += m
                }
            }
        }
    }

    /// m halves read with element stride `s` into floats.
    @inline(__always) static func gatherHalves(_ src: UnsafePointer<UInt16>, _ s: Int, _ dst: UnsafeMutablePointer<Float>, _ m: Int) {
        if s == 1 {
            Float16Conversion.toFloat(src, dst, count: m)
        } else {
            for i in 0..<m { dst[i] = Float16Conversion.float(fromBits: src[i * s]) }
        }
    }

    // MARK: Binary, generic element types

    /// out[i] = f(a[i], b[i]) with broadcasting for any element types.
    static func binary<A, B, O>(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext,
                                _: A.Type, _: B.Type, _: O.Type, _ f: (A, B) -> O) {
        let w = walk(out, [a, b])
        let sa = w.innerStride(1), sb = w.innerStride(2)
        let pa = a.pointer(A.self), pb = b.pointer(B.self), po = out.pointer(O.self)
        parallelRuns(w, ctx) { off, n in
            let oa = pa + off[1], ob = pb + off[2], oo = po + off[0]
            for i in 0..<n { oo[i] = f(oa[i * sa], ob[i * sb]) }
        }
    }

    /// Comparison of float32/float16 operands into a bool tensor.
    static func floatCompare(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext,
                             _ f: (Float, Float) -> Bool) {
        if a.dtype == .float32 {
            binary(a, b, out, ctx, Float.self, Float.self, UInt8.self) { f($0, $1) ? 1 : 0 }
        } else {
            binary(a, b, out, ctx, UInt16.self, UInt16.self, UInt8.self) {
                f(Float16Conversion.float(fromBits: $0), Float16Conversion.float(fromBits: $1)) ? 1 : 0
            }
        }
    }

    // MARK: Where

    /// out = cond ? x : y, copying elements of x's byte size.
    static func whereSelect(_ c: TensorView, _ x: TensorView, _ y: TensorView, _ out: TensorView, _ ctx: ExecContext) {
        switch out.dtype.byteSize {
        case 1: whereTyped(c, x, y, out, ctx, UInt8.self)
        case 2: whereTyped(c, x, y, out, ctx, UInt16.self)
        case 4: whereTyped(c, x, y, out, ctx, UInt32.self)
        default: whereTyped(c, x, y, out, ctx, UInt64.self)
        }
    }

    static func whereTyped<T>(_ c: TensorView, _ x: TensorView, _ y: TensorView, _ out: TensorView,
                              _ ctx: ExecContext, _: T.Type) {
        let w = walk(out, [c, x, y])
        let sc = w.innerStride(1), sx = w.innerStride(2), sy = w.innerStride(3)
        let pc = c.pointer(UInt8.self), px = x.pointer(T.self), py = y.pointer(T.self), po = out.pointer(T.self)
        parallelRuns(w, ctx) { off, n in
            let oc = pc + off[1], ox = px + off[2], oy = py + off[3], oo = po + off[0]
            for i in 0..<n { oo[i] = oc[i * sc] != 0 ? ox[i * sx] : oy[i * sy] }
        }
    }

    // MARK: Unary float

    /// Scalar definitions of the float unary ops: the reference the vectorized code is tested
    /// against, and the path for ops without a C loop.
    @inline(__always) static func unaryReference(_ op: UnaryFloatOp, _ x: Float) -> Float {
        switch op {
        case .sqrt: return sqrtf(x)
        case .erf: return erff(x)
        case .sigmoid: return 1 / (1 + expf(-x))
        case .relu: return x > 0 ? x : (x.isNaN ? x : 0)
        case .tanh: return tanhf(x)
        case .exp: return expf(x)
        case .log: return logf(x)
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .reciprocal: return 1 / x
        case .floor: return floorf(x)
        case .ceil: return ceilf(x)
        case .sin: return sinf(x)
        case .cos: return cosf(x)
        case .leakyRelu(let alpha): return x >= 0 ? x : alpha * x
        case .geluErf: return 0.5 * x * (1 + erff(x * Float(0.70710678118654752)))
        case .geluTanh: return 0.5 * x * (1 + tanhf(Float(0.79788456080286536) * (x + 0.044715 * x * x * x)))
        case .quickGelu: return x / (1 + expf(-1.702 * x))
        case .clip(let lo, let hi): return x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)
        }
    }

    /// Applies `op` to n contiguous floats (in place allowed): the C loop when there is one.
    @inline(__always) static func unaryRow(_ op: UnaryFloatOp, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        if let c = op.cKernel {
            lseg_unary_f32(Int32(c.rawValue), x, y, n)
        } else {
            for i in 0..<n { y[i] = unaryReference(op, x[i]) }
        }
    }

    /// y = op(x) over float32 or float16 tensors of equal shape.
    static func floatUnary(_ op: UnaryFloatOp, _ x: TensorView, _ y: TensorView, _ ctx: ExecContext) {
        let n = x.count
        let cost = op.cKernel == nil ? 8 : 2
        if x.dtype == .float32 {
            let px = x.pointer(Float.self), py = y.pointer(Float.self)
            ctx.parallelFor(n, costPerItem: cost) { r in unaryRow(op, px + r.lowerBound, py + r.lowerBound, r.count) }
            return
        }
        let px = x.pointer(UInt16.self), py = y.pointer(UInt16.self)
        ctx.parallelFor(n, costPerItem: cost) { r in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buf in
                let f = buf.baseAddress!
                var i = r.lowerBound
                while i < r.upperBound {
                    let m = Swift.min(chunk, r.upperBound - i)
                    Float16Conversion.toFloat(px + i, f, count: m)
                    unaryRow(op, f, f, m)
                    Float16Conversion.toHalf(f, py + i, count: m)
                    i += m
                }
            }
        }
    }

    /// y = f(x) for any element types, same shape.
    static func map<A, O>(_ x: TensorView, _ y: TensorView, _ ctx: ExecContext, _: A.Type, _: O.Type, _ f: (A) -> O) {
        let px = x.pointer(A.self), py = y.pointer(O.self)
        ctx.parallelFor(x.count) { r in
            for i in r { py[i] = f(px[i]) }
        }
    }

    // MARK: Copy

    /// Copies x's bytes to y unless they already share memory.
    static func copyIfNeeded(_ x: TensorView, _ y: TensorView) {
        if x.data != y.data { y.data.copyMemory(from: x.data, byteCount: Swift.min(x.byteCount, y.byteCount)) }
    }
}

/// Float unary functions, with their parameters.
enum UnaryFloatOp: Equatable {
    case sqrt, erf, sigmoid, relu, tanh, exp, log, neg, abs, reciprocal, floor, ceil, sin, cos
    case leakyRelu(Float)
    case geluErf, geluTanh, quickGelu
    case clip(Float, Float)

    /// The vectorized C loop computing this op, if any.
    var cKernel: lseg_unary_op? {
        switch self {
        case .exp: return LSEG_UN_EXP
        case .sigmoid: return LSEG_UN_SIGMOID
        case .tanh: return LSEG_UN_TANH
        case .erf: return LSEG_UN_ERF
        case .geluErf: return LSEG_UN_GELU_ERF
        case .geluTanh: return LSEG_UN_GELU_TANH
        case .quickGelu: return LSEG_UN_QUICK_GELU
        case .relu: return LSEG_UN_RELU
        case .sqrt: return LSEG_UN_SQRT
        case .neg: return LSEG_UN_NEG
        case .abs: return LSEG_UN_ABS
        case .reciprocal: return LSEG_UN_RECIPROCAL
        case .log, .floor, .ceil, .sin, .cos, .leakyRelu, .clip: return nil
        }
    }
}
