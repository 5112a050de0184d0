import CKernels
import Glibc

/// Resize kernels: per-axis tap tables (source index and weight for every output coordinate),
/// a generic separable loop over them, and the C bilinear kernel for the common 2-D case.
enum ResizeKernels {
    /// Source taps of one axis: output coordinate o reads `index[o * taps + t]` with `weight[...]`;
    /// `outside[o]` marks tf_crop_and_resize coordinates that take the extrapolation value.
    struct AxisTaps {
        var taps: Int
        var index: [Int]
        var weight: [Float]
        var outside: [Bool]
        var isIdentity: Bool
    }

    /// The source coordinate of output coordinate `o` on one axis (ONNX's formulas, in float).
    static func sourceCoordinate(_ o: Int, scale: Float, inLen: Int, outLen: Int, roiStart: Float, roiEnd: Float,
                                 _ mode: ResizeAttrs.CoordinateTransformation) -> Float {
        let x = Float(o)
        switch mode {
        case .halfPixel: return (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return outLen > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .alignCorners: return outLen == 1 ? 0 : x * Float(inLen - 1) / Float(outLen - 1)
        case .asymmetric: return x / scale
        case .halfPixelSymmetric:
            let adjustment = Float(outLen) / (scale * Float(inLen))
            let center = Float(inLen) / 2
            return center * (1 - adjustment) + (x + 0.5) / scale - 0.5
        case .tfCropAndResize:
            return outLen > 1
                ? roiStart * Float(inLen - 1) + x * (roiEnd - roiStart) * Float(inLen - 1) / Float(outLen - 1)
                : 0.5 * (roiStart + roiEnd) * Float(inLen - 1)
        }
    }

    static func nearestIndex(_ x: Float, _ mode: ResizeAttrs.NearestMode) -> Int {
        switch mode {
        case .roundPreferFloor: return x == x.rounded(.towardZero) + 0.5 ? Int(x.rounded(.down)) : Int(x.rounded(.toNearestOrAwayFromZero))
        case .roundPreferCeil: return x == x.rounded(.towardZero) + 0.5 ? Int(x.rounded(.up)) : Int(x.rounded(.toNearestOrAwayFromZero))
        case .floor: return Int(x.rounded(.down))
        case .ceil: return Int(x.rounded(.up))
        }
    }

    /// Keys cubic convolution weights for the 4 taps floor(x)-1 ... floor(x)+2 at fraction r.
    static func cubicWeights(_ r: Float, _ a: Float) -> [Float] {
        let r1 = r + 1, r2 = 1 - r, r3 = 2 - r
        return [((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
                ((a + 2) * r - (a + 3)) * r * r + 1,
                ((a + 2) * r2 - (a + 3)) * r2 * r2 + 1,
                ((a * r3 - 5 * a) * r3 + 8 * a) * r3 - 4 * a]
    }

    static func axisTaps(_ p: ResizeOp.Plan, axis d: Int, _ attrs: ResizeAttrs) -> AxisTaps {
        let inLen = p.input[d], outLen = p.output[d], crop = attrs.coordinateTransformation == .tfCropAndResize
        if !crop && inLen == outLen && p.scales[d] == 1 {
            return AxisTaps(taps: 1, index: Array(0..<outLen), weight: Array(repeating: 1, count: outLen),
                            outside: Array(repeating: false, count: outLen), isIdentity: true)
        }
        let taps: Int
        switch attrs.mode {
        case .nearest: taps = 1
        case .linear: taps = 2
        case .cubic: taps = 4
        }
        var t = AxisTaps(taps: taps, index: Array(repeating: 0, count: outLen * taps),
                         weight: Array(repeating: 0, count: outLen * taps), outside: Array(repeating: false, count: outLen),
                         isIdentity: false)
        let last = Swift.max(inLen - 1, 0)
        for o in 0..<outLen {
            let x = sourceCoordinate(o, scale: p.scales[d], inLen: inLen, outLen: outLen,
                                     roiStart: p.roiStart[d], roiEnd: p.roiEnd[d], attrs.coordinateTransformation)
            if crop && (x < 0 || x > Float(last)) { t.outside[o] = true; continue }
            switch attrs.mode {
            case .nearest:
                t.index[o] = Swift.min(Swift.max(nearestIndex(x, attrs.nearestMode), 0), last)
                t.weight[o] = 1
            case .linear:
                // Clamp to the edge as ONNX Runtime does, then interpolate the two neighbours.
                let c = Swift.min(Swift.max(x, 0), Float(last))
                let x0 = Swift.min(Int(c), last), x1 = Swift.min(x0 + 1, last)
                let w1 = c - Float(x0)
                t.index[2 * o] = x0; t.index[2 * o + 1] = x1
                t.weight[2 * o] = 1 - w1; t.weight[2 * o + 1] = w1
            case .cubic:
                let base = x.rounded(.down)
                var w = cubicWeights(x - base, attrs.cubicCoeffA)
                var total: Float = 0
                for k in 0..<4 {
                    let src = Int(base) - 1 + k
                    if attrs.excludeOutside && (src < 0 || src > last) { w[k] = 0 }
                    total += w[k]
                    t.index[4 * o + k] = Swift.min(Swift.max(src, 0), last)
                }
                for k in 0..<4 { t.weight[4 * o + k] = attrs.excludeOutside && total != 0 ? w[k] / total : w[k] }
            }
        }
        return t
    }

    static func resize(_ p: ResizeOp.Plan, _ attrs: ResizeAttrs, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                       _ ctx: ExecContext) throws {
        let rank = p.input.count
        let outCount = Tensor.elementCount(p.output)
        if outCount == 0 { return }
        let taps = (0..<rank).map { axisTaps(p, axis: $0, attrs) }
        let outer = taps.dropLast(Swift.min(2, rank))
        if attrs.mode == .linear && rank >= 2 && attrs.coordinateTransformation != .tfCropAndResize
            && outer.allSatisfy({ $0.isIdentity }) {
            bilinear(p, taps[rank - 2], taps[rank - 1], x: x, y: y, ctx)
            return
        }
        let cost = taps.reduce(1) { $0 * $1.taps } * rank
        ctx.parallelFor(outCount, costPerItem: cost) { range in
            separable(p, taps, attrs.extrapolationValue, x: x, y: y, range: range)
        }
    }

    /// Bilinear over the last two axes; identity axes become two equal taps.
    private static func bilinear(_ p: ResizeOp.Plan, _ ty: AxisTaps, _ tx: AxisTaps, x: UnsafePointer<Float>,
                                 y: UnsafeMutablePointer<Float>, _ ctx: ExecContext) {
        let rank = p.input.count
        let ih = p.input[rank - 2], iw = p.input[rank - 1], oh = p.output[rank - 2], ow = p.output[rank - 1]
        func pairs(_ t: AxisTaps) -> ([Int64], [Int64], [Float]) {
            if t.taps == 1 { return (t.index.map(Int64.init), t.index.map(Int64.init), Array(repeating: 0, count: t.index.count)) }
            let n = t.index.count / 2
            return ((0..<n).map { Int64(t.index[2 * $0]) }, (0..<n).map { Int64(t.index[2 * $0 + 1]) }, (0..<n).map { t.weight[2 * $0 + 1] })
        }
        let (y0, y1, wy) = pairs(ty), (x0, x1, wx) = pairs(tx)
        let rows = Tensor.elementCount(Array(p.output.dropLast()))
        ctx.parallelFor(rows, costPerItem: ow * 3) { r in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * ow) { scratch in
                lseg_resize_bilinear(x, y, Int64(ih), Int64(iw), Int64(oh), Int64(ow), Int64(r.lowerBound), Int64(r.upperBound),
                                     y0, y1, wy, x0, x1, wx, scratch.baseAddress)
            }
        }
    }

    /// The reference path: every output element sums the product of its per-axis taps.
    static func separable(_ p: ResizeOp.Plan, _ taps: [AxisTaps], _ extrapolation: Float, x: UnsafePointer<Float>,
                          y: UnsafeMutablePointer<Float>, range: Range<Int>) {
        let rank = p.input.count
        var inStride = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { inStride[d] = inStride[d + 1] * p.input[d + 1] }
        var oi = [Int](repeating: 0, count: rank)
        var rem = range.lowerBound
        for d in stride(from: rank - 1, through: 0, by: -1) { oi[d] = rem % p.output[d]; rem /= p.output[d] }
        var ti = [Int](repeating: 0, count: rank)
        for flat in range {
            var outside = false
            for d in 0..<rank where taps[d].outside[oi[d]] { outside = true }
            if outside {
                y[flat] = extrapolation
            } else {
                var sum: Float = 0
                for d in 0..<rank { ti[d] = 0 }
                while true {
                    var offset = 0
                    var w: Float = 1
                    for d in 0..<rank {
                        let k = oi[d] * taps[d].taps + ti[d]
                        offset += taps[d].index[k] * inStride[d]
                        w *= taps[d].weight[k]
                    }
                    sum += w * x[offset]
                    var d = rank - 1
                    while d >= 0 {
                        ti[d] += 1
                        if ti[d] < taps[d].taps { break }
                        ti[d] = 0
                        d -= 1
                    }
                    if d < 0 { break }
                }
                y[flat] = sum
            }
            for d in stride(from: rank - 1, through: 0, by: -1) {
                oi[d] += 1
                if oi[d] < p.output[d] { break }
                oi[d] = 0
            }
        }
    }
}
