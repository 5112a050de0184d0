import Glibc

/// Reductions accumulate in Double (Int64 for integer sums, products and extremes), one output
/// element at a time, walking the reduced axes in contiguous runs.
enum ReductionKernels {
    static func reduce(_ kind: ReduceKind, _ x: TensorView, axes: [Int], _ out: TensorView, _ ctx: ExecContext) throws {
        let xs = Broadcast.contiguousStrides(x.shape)
        let kept = (0..<x.shape.count).filter { !axes.contains($0) }
        let keptDims = kept.map { x.shape[$0] }, keptStrides = kept.map { xs[$0] }
        let red = StridedWalk(dims: axes.map { x.shape[$0] }, strides: [axes.map { xs[$0] }])
        let outer = StridedWalk(dims: keptDims, strides: [keptStrides])
        let rCount = red.count
        let nOut = out.count
        guard nOut > 0 else { return }

        // Input offset of every output element is found by walking the kept dims.
        func forEachOutput(_ body: (Int, Int) -> Void, _ range: Range<Int>) {
            var o = range.lowerBound
            outer.forEachRun(range) { off, n in
                let s = outer.innerStride(0)
                for k in 0..<n { body(o + k, off[0] + k * s) }
                o += n
            }
        }

        if x.dtype == .float32, let sorted = Optional(axes.sorted()), sorted.count > 0,
           sorted.last! - sorted.first! == sorted.count - 1,
           reduceMiddleAxes(kind, x, first: sorted.first!, last: sorted.last!, out, ctx) {
            return
        }
        switch x.dtype {
        case .float32:
            let p = x.pointer(Float.self), q = out.pointer(Float.self)
            ctx.parallelFor(nOut, costPerItem: Swift.max(1, rCount)) { range in
                forEachOutput({ o, base in q[o] = Float(reduceDouble(kind, red, rCount) { p[base + $0] }) }, range)
            }
        case .float16:
            let p = x.pointer(UInt16.self), q = out.pointer(UInt16.self)
            ctx.parallelFor(nOut, costPerItem: Swift.max(1, rCount)) { range in
                forEachOutput({ o, base in
                    q[o] = Float16Conversion.bits(from: Float(reduceDouble(kind, red, rCount) {
                        Float16Conversion.float(fromBits: p[base + $0]) }))
                }, range)
            }
        case .int64:
            let p = x.pointer(Int64.self), q = out.pointer(Int64.self)
            ctx.parallelFor(nOut, costPerItem: Swift.max(1, rCount)) { range in
                forEachOutput({ o, base in q[o] = reduceInteger(kind, red, rCount) { p[base + $0] } }, range)
            }
        case .int32:
            let p = x.pointer(Int32.self), q = out.pointer(Int32.self)
            ctx.parallelFor(nOut, costPerItem: Swift.max(1, rCount)) { range in
                forEachOutput({ o, base in
                    q[o] = Int32(truncatingIfNeeded: reduceInteger(kind, red, rCount) { Int64(p[base + $0]) })
                }, range)
            }
        default:
            throw OpError("type \(x.dtype) is not supported")
        }
    }

    /// Fast path for float32 over consecutive axes followed by at least one kept axis, viewed as
    /// [outer, R, inner]: accumulates whole inner rows (contiguous, vectorizable) in float, as
    /// ONNX Runtime does. Returns false for kinds it does not handle.
    static func reduceMiddleAxes(_ kind: ReduceKind, _ x: TensorView, first: Int, last: Int, _ out: TensorView, _ ctx: ExecContext) -> Bool {
        switch kind {
        case .sum, .mean, .sumSquare, .l2, .max, .min: break
        case .prod, .l1, .logSumExp: return false
        }
        let outer = x.shape[..<first].reduce(1, *)
        let r = x.shape[first...last].reduce(1, *)
        let inner = x.shape[(last + 1)...].reduce(1, *)
        guard r > 0, inner > 0 else { return false }
        let p = x.pointer(Float.self), q = out.pointer(Float.self)
        if inner == 1 {
            // Rows: one contiguous run per output, summed in eight lanes.
            ctx.parallelFor(outer, costPerItem: r) { range in
                for o in range { q[o] = reduceRow(kind, p + o * r, r) }
            }
            return true
        }
        let block = 4096
        let blocksPerOuter = (inner + block - 1) / block
        ctx.parallelFor(outer * blocksPerOuter, costPerItem: r * min(block, inner)) { range in
            for job in range {
                let o = job / blocksPerOuter, lo = (job % blocksPerOuter) * block, hi = min(inner, lo + block)
                let dst = q + o * inner
                let src0 = p + o * r * inner
                switch kind {
                case .sum, .mean:
                    for i in lo..<hi { dst[i] = src0[i] }
                    for k in 1..<max(r, 1) where r > 1 { let s = src0 + k * inner; for i in lo..<hi { dst[i] += s[i] } }
                    if kind == .mean { let inv = 1 / Float(r); for i in lo..<hi { dst[i] *= inv } }
                case .sumSquare, .l2:
                    for i in lo..<hi { dst[i] = src0[i] * src0[i] }
                    for k in 1..<max(r, 1) where r > 1 { let s = src0 + k * inner; for i in lo..<hi { dst[i] += s[i] * s[i] } }
                    if kind == .l2 { for i in lo..<hi { dst[i] = dst[i].squareRoot() } }
                case .max:
                    for i in lo..<hi { dst[i] = src0[i] }
                    for k in 1..<max(r, 1) where r > 1 { let s = src0 + k * inner; for i in lo..<hi where !(s[i] <= dst[i]) { dst[i] = s[i] } }
                case .min:
                    for i in lo..<hi { dst[i] = src0[i] }
                    for k in 1..<max(r, 1) where r > 1 { let s = src0 + k * inner; for i in lo..<hi where !(s[i] >= dst[i]) { dst[i] = s[i] } }
                case .prod, .l1, .logSumExp:
                    break
                }
            }
        }
        return true
    }

    @inline(__always) static func reduceRow(_ kind: ReduceKind, _ src: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let raw = UnsafeRawPointer(src)
        var i = 0
        switch kind {
        case .sum, .mean, .sumSquare, .l2:
            var acc = SIMD8<Float>(repeating: 0)
            let square = kind == .sumSquare || kind == .l2
            while i + 8 <= n {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                acc += square ? v * v : v
                i += 8
            }
            var total = acc.sum()
            while i < n { total += square ? src[i] * src[i] : src[i]; i += 1 }
            switch kind {
            case .mean: return total / Float(n)
            case .l2: return total.squareRoot()
            default: return total
            }
        case .max, .min:
            var best = src[0]
            for k in 1..<max(n, 1) where n > 1 {
                let v = src[k]
                if kind == .max ? !(v <= best) : !(v >= best) { best = v }
            }
            return best
        case .prod, .l1, .logSumExp:
            return .nan   // not routed here
        }
    }

    /// Visits the reduced elements' offsets (relative to the output element's base).
    @inline(__always) static func forEachReduced(_ red: StridedWalk, _ body: (Int) -> Void) {
        let s = red.innerStride(0)
        red.forEachRun(0..<red.count) { off, n in
            let b = off[0]
            for k in 0..<n { body(b + k * s) }
        }
    }

    @inline(__always) static func reduceDouble<F: BinaryFloatingPoint>(_ kind: ReduceKind, _ red: StridedWalk, _ count: Int,
                                                                     _ load: (Int) -> F) -> Double {
        switch kind {
        case .sum, .mean:
            var acc = 0.0
            forEachReduced(red) { acc += Double(load($0)) }
            return kind == .mean ? acc / Double(count) : acc
        case .l1:
            var acc = 0.0
            forEachReduced(red) { acc += Swift.abs(Double(load($0))) }
            return acc
        case .l2, .sumSquare:
            var acc = 0.0
            forEachReduced(red) { let v = Double(load($0)); acc += v * v }
            return kind == .l2 ? acc.squareRoot() : acc
        case .prod:
            var acc = 1.0
            forEachReduced(red) { acc *= Double(load($0)) }
            return acc
        case .max:
            var acc = -Double.infinity
            forEachReduced(red) { let v = Double(load($0)); if v > acc || v.isNaN { acc = v } }
            return acc
        case .min:
            var acc = Double.infinity
            forEachReduced(red) { let v = Double(load($0)); if v < acc || v.isNaN { acc = v } }
            return acc
        case .logSumExp:
            var m = -Double.infinity
            forEachReduced(red) { m = Swift.max(m, Double(load($0))) }
            if m.isInfinite { return m == .infinity ? m : (count == 0 ? -.infinity : m) }
            var acc = 0.0
            forEachReduced(red) { acc += Glibc.exp(Double(load($0)) - m) }
            return Glibc.log(acc) + m
        }
    }

    @inline(__always) static func reduceInteger(_ kind: ReduceKind, _ red: StridedWalk, _ count: Int, _ load: (Int) -> Int64) -> Int64 {
        switch kind {
        case .sum, .mean:
            var acc: Int64 = 0
            forEachReduced(red) { acc &+= load($0) }
            return kind == .mean ? (count > 0 ? acc / Int64(count) : 0) : acc
        case .prod:
            var acc: Int64 = 1
            forEachReduced(red) { acc &*= load($0) }
            return acc
        case .max:
            var acc = Int64.min
            forEachReduced(red) { acc = Swift.max(acc, load($0)) }
            return acc
        case .min:
            var acc = Int64.max
            forEachReduced(red) { acc = Swift.min(acc, load($0)) }
            return acc
        case .l1:
            var acc: Int64 = 0
            forEachReduced(red) { let v = load($0); acc &+= v < 0 ? 0 &- v : v }
            return acc
        case .sumSquare:
            var acc: Int64 = 0
            forEachReduced(red) { let v = load($0); acc &+= v &* v }
            return acc
        case .l2, .logSumExp:
            let d = reduceDouble(kind, red, count) { Double(load($0)) }
            return CastKernels.truncated(d)
        }
    }

    /// Index of the first (or last) maximum along `axis`; output int64 laid out as x without that axis.
    static func argMax(_ x: TensorView, axis: Int, selectLast: Bool, _ out: TensorView, _ ctx: ExecContext) throws {
        let outerN = Tensor.elementCount(Array(x.shape[..<axis]))
        let dim = x.shape[axis]
        let inner = Tensor.elementCount(Array(x.shape[(axis + 1)...]))
        let q = out.pointer(Int64.self)
        func scan<T: Comparable>(_ p: UnsafeMutablePointer<T>) {
            ctx.parallelFor(outerN * inner, costPerItem: dim) { range in
                for job in range {
                    let o = job / inner, i = job % inner
                    let base = p + o * dim * inner + i
                    var best = base[0], at = 0
                    for k in 1..<Swift.max(dim, 1) {
                        let v = base[k * inner]
                        if v > best || (selectLast && v == best) { best = v; at = k }
                    }
                    q[job] = Int64(at)
                }
            }
        }
        switch x.dtype {
        case .float32: scan(x.pointer(Float.self))
        case .int64: scan(x.pointer(Int64.self))
        case .int32: scan(x.pointer(Int32.self))
        case .float16:
            // Half bit patterns do not order like values; compare decoded floats.
            let p = x.pointer(UInt16.self)
            ctx.parallelFor(outerN * inner, costPerItem: dim) { range in
                for job in range {
                    let o = job / inner, i = job % inner
                    let base = p + o * dim * inner + i
                    var best = Float16Conversion.float(fromBits: base[0]), at = 0
                    for k in 1..<Swift.max(dim, 1) {
                        let v = Float16Conversion.float(fromBits: base[k * inner])
                        if v > best || (selectLast && v == best) { best = v; at = k }
                    }
                    q[job] = Int64(at)
                }
            }
        default: throw OpError("type \(x.dtype) is not supported")
        }
    }
}
