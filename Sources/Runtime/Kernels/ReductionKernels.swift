import Foundation

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
            forEachReduced(red) { acc += Foundation.exp(Double(load($0)) - m) }
            return Foundation.log(acc) + m
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
