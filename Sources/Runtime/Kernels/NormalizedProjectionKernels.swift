import CKernels
import Glibc

/// The fused LSeg head, tile by tile over output rows. Without an upsample the GEMM reads x in
/// place (channel-major); with one, each source row is transposed to pixel-major [w, C] and
/// resampled horizontally (two such rows are cached per worker: consecutive output rows share
/// them), output rows are blended vertically into a pixel-major [pixels, C] tile, so every
/// interpolation step is a contiguous vector loop over channels. Then each pixel's squared norm,
/// one GEMM of the features [N, C] with the tile written straight into the output rows of every
/// label, and a scale of each pixel by scale / norm. Nothing full-size is materialized: the
/// scratch is one tile per worker.
enum NormalizedProjectionKernels {
    /// Tile and scratch geometry, shared by the plan (workspace size) and the run.
    struct Tiling {
        /// Output rows per tile and tiles in the output.
        var rowsPerTile: Int
        var tiles: Int
        /// Floats of one worker's scratch (rounded up to 64 bytes).
        var slotFloats: Int
        /// Workers the workspace has room for.
        var slots: Int

        /// Pixels a tile aims at: a [C, pixels] tile of 512 channels stays within L2.
        static let targetPixels = 256

        init(_ s: NormalizedProjection.Shapes, upsampled: Bool) {
            let width = max(s.width, 1)
            rowsPerTile = max(1, min(Self.targetPixels / width, max(s.height, 1)))
            tiles = (s.height + rowsPerTile - 1) / rowsPerTile
            let pixels = rowsPerTile * width
            // When upsampling: the pixel-major tile, two resampled source rows [W, C] and one
            // transposed source row [w, C]. Per-pixel norms always.
            let floats = (upsampled ? s.channels * (pixels + 2 * width + s.inWidth) : 0) + pixels
            slotFloats = (floats + 15) / 16 * 16
            slots = max(1, min(ProcessorCount.active, 16, tiles))
        }

        var slotBytes: Int { slotFloats * MemoryLayout<Float>.size }
        var workspaceBytes: Int { tiles == 0 ? 0 : slots * slotBytes }
    }

    /// One axis of bilinear taps: output coordinate o blends source i0[o] and i1[o] with weight w[o] on i1.
    struct Taps {
        var i0: [Int], i1: [Int], w: [Float]

        init(_ plan: ResizeOp.Plan, axis: Int, _ attrs: ResizeAttrs) {
            let t = ResizeKernels.axisTaps(plan, axis: axis, attrs)
            if t.taps == 1 {
                i0 = t.index; i1 = t.index; w = Array(repeating: 0, count: t.index.count)
            } else {
                let n = t.index.count / 2
                i0 = (0..<n).map { t.index[2 * $0] }
                i1 = (0..<n).map { t.index[2 * $0 + 1] }
                w = (0..<n).map { t.weight[2 * $0 + 1] }
            }
        }
    }

    /// The source-resolution path (kernels_head.h): used when the upsample at least doubles the
    /// pixel count and every output pixel blends neighbouring source pixels. Per source pixel it
    /// keeps five Gram entries, the norm and the N dot products, so its cost is (5 + N) C per
    /// source pixel plus O(N) per output pixel, against (N + 4) C per output pixel for the tiles.
    struct GramLayout {
        var rows: (i0: [Int64], i1: [Int64], w: [Float])
        var cols: (i0: [Int64], i1: [Int64], w: [Float])
        /// Floats of the shared planes (5 Gram planes, the norms, N dot-product planes).
        var sharedFloats: Int
        var slotFloats: Int
        var slots: Int

        init?(_ s: NormalizedProjection.Shapes, plan: ResizeOp.Plan?, _ attrs: NormalizedProjectionAttrs) {
            guard let plan, let up = attrs.upsample, s.channels > 0, s.inHeight > 0, s.inWidth > 0,
                  s.height * s.width >= 2 * s.inHeight * s.inWidth else { return nil }
            let rt = Taps(plan, axis: 2, resizeAttrs(up)), ct = Taps(plan, axis: 3, resizeAttrs(up))
            func neighbours(_ t: Taps, _ n: Int) -> Bool {
                zip(t.i0, t.i1).allSatisfy { $0 >= 0 && $0 < n && ($1 == $0 || $1 == $0 + 1) && $1 < n }
            }
            guard rt.i0.count == s.height, ct.i0.count == s.width, neighbours(rt, s.inHeight), neighbours(ct, s.inWidth)
            else { return nil }
            rows = (rt.i0.map(Int64.init), rt.i1.map(Int64.init), rt.w)
            cols = (ct.i0.map(Int64.init), ct.i1.map(Int64.init), ct.w)
            sharedFloats = ((6 + s.labels) * s.inHeight * s.inWidth + 15) / 16 * 16
            slotFloats = (max(Int(lseg_head_gram_rows_scratch(Int64(s.inWidth))), (s.labels + 3) * s.inWidth) + 15) / 16 * 16
            slots = max(1, min(ProcessorCount.active, 16, s.height))
        }

        var workspaceBytes: Int { (sharedFloats + slots * slotFloats) * MemoryLayout<Float>.size }
    }

    /// Workspace of whichever path `run` takes for these shapes.
    static func workspaceBytes(_ s: NormalizedProjection.Shapes, plan: ResizeOp.Plan?, _ attrs: NormalizedProjectionAttrs) -> Int {
        if let g = GramLayout(s, plan: plan, attrs) { return g.workspaceBytes }
        return Tiling(s, upsampled: plan != nil).workspaceBytes
    }

    /// Pixels the source-resolution path has recomputed exactly since the process started
    /// (tests check that cancelling inputs take the fallback).
    final class ExactPixelCount: @unchecked Sendable {
        private let lock = PThreadLock()
        private var count = 0
        func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    }
    static let exactPixels = ExactPixelCount()

    private static func runGram(_ s: NormalizedProjection.Shapes, _ g: GramLayout, _ attrs: NormalizedProjectionAttrs,
                                x: UnsafePointer<Float>, features: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                _ ctx: ExecContext) throws {
        guard let ws = ctx.workspace, ctx.workspaceBytes >= g.sharedFloats * 4 + g.slotFloats * 4 else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is smaller than the head's \(g.sharedFloats * 4 + g.slotFloats * 4)")
        }
        let h = s.inHeight, w = s.inWidth, lp = h * w, c = s.channels
        let base = ws.assumingMemoryBound(to: Float.self)
        let g0 = base, gr = g0 + lp, gd = gr + lp, gx = gd + lp, gy = gx + lp, n0 = gy + lp, proj = n0 + lp
        let scratch = base + g.sharedFloats
        let slots = max(1, min(ctx.threads, (ctx.workspaceBytes / 4 - g.sharedFloats) / g.slotFloats, g.slots))
        ctx.parallelFor(slots, costPerItem: (h / slots + 1) * w * c * (5 + s.labels)) { range in
            for slot in range {
                lseg_head_gram_rows(x, Int64(c), Int64(h), Int64(w), Int64(h * slot / slots), Int64(h * (slot + 1) / slots),
                                    g0, gr, gd, gx, gy, n0, features, Int64(s.labels), proj, scratch + slot * g.slotFloats)
            }
        }
        let (guardCode, eps): (Int32, Float) = {
            switch attrs.normGuard {
            case .none: return (0, 0)
            case .clampNorm(let e): return (1, e)
            case .addToSquaredSum(let e): return (2, e)
            }
        }()
        let height = s.height
        g.rows.i0.withUnsafeBufferPointer { r0 in g.rows.i1.withUnsafeBufferPointer { r1 in g.rows.w.withUnsafeBufferPointer { rw in
        g.cols.i0.withUnsafeBufferPointer { c0 in g.cols.i1.withUnsafeBufferPointer { c1 in g.cols.w.withUnsafeBufferPointer { cw in
            ctx.parallelFor(slots, costPerItem: (height / slots + 1) * s.width * (s.labels + 8)) { range in
                for slot in range {
                    let n = lseg_head_gram_pixels(x, features, Int64(c), Int64(s.labels), Int64(h), Int64(w), Int64(height),
                                                  Int64(s.width), r0.baseAddress!, r1.baseAddress!, rw.baseAddress!,
                                                  c0.baseAddress!, c1.baseAddress!, cw.baseAddress!, g0, gr, gd, gx, gy, n0,
                                                  proj, attrs.scale, guardCode, eps, Int64(height * slot / slots),
                                                  Int64(height * (slot + 1) / slots), y, scratch + slot * g.slotFloats)
                    if n > 0 { exactPixels.add(Int(n)) }
                }
            }
        } } } } } }
    }

    static func resizeAttrs(_ u: NormalizedProjectionAttrs.Upsample) -> ResizeAttrs {
        ResizeAttrs(mode: .linear, coordinateTransformation: u.coordinateTransformation)
    }

    static func run(_ s: NormalizedProjection.Shapes, plan: ResizeOp.Plan?, _ attrs: NormalizedProjectionAttrs,
                    x: UnsafePointer<Float>, features: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                    _ ctx: ExecContext) throws {
        let plane = s.height * s.width
        if plane == 0 || s.labels == 0 { return }
        if s.channels > 0, let g = GramLayout(s, plan: plan, attrs) {
            return try runGram(s, g, attrs, x: x, features: features, y: y, ctx)
        }
        let tiling = Tiling(s, upsampled: plan != nil)
        guard let ws = ctx.workspace, ctx.workspaceBytes >= tiling.slotBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is smaller than one tile's \(tiling.slotBytes)")
        }
        if s.channels == 0 {
            // Empty vectors: 0 / 0 under every guard but clampNorm with epsilon > 0.
            let v: Float = { if case .clampNorm(let e) = attrs.normGuard, e > 0 { return 0 } else { return .nan } }()
            y.update(repeating: v, count: s.labels * plane)
            return
        }
        let rowTaps = plan.map { Taps($0, axis: 2, resizeAttrs(attrs.upsample!)) }
        let colTaps = plan.map { Taps($0, axis: 3, resizeAttrs(attrs.upsample!)) }
        let slots = min(ctx.threads, ctx.workspaceBytes / tiling.slotBytes, tiling.tiles)
        // Per tile: the GEMM (2 N C flops a pixel) plus resampling and norms (about 4 C).
        let costPerSlot = (tiling.tiles / slots + 1) * tiling.rowsPerTile * s.width * s.channels * (s.labels + 4)
        let workspace = ws.assumingMemoryBound(to: Float.self)
        var failure: Error?
        let lock = PThreadLock()
        ctx.parallelFor(slots, costPerItem: costPerSlot) { range in
            for slot in range {
                let scratch = workspace + slot * tiling.slotFloats
                let first = tiling.tiles * slot / slots, last = tiling.tiles * (slot + 1) / slots
                var cached = (-1, -1)
                for t in first..<last {
                    let r0 = t * tiling.rowsPerTile, r1 = min(r0 + tiling.rowsPerTile, s.height)
                    do {
                        try tile(s, tiling, rows: r0..<r1, rowTaps: rowTaps, colTaps: colTaps, attrs, x: x, features: features,
                                 y: y, scratch: scratch, cached: &cached)
                    } catch {
                        lock.lock(); failure = failure ?? error; lock.unlock()
                        return
                    }
                }
            }
        }
        if let failure { throw failure }
    }

    /// Output rows `rows` of every label. `cached` names the source rows whose resampled copies
    /// the scratch holds (-1: none), kept across the tiles of one worker.
    private static func tile(_ s: NormalizedProjection.Shapes, _ tiling: Tiling, rows: Range<Int>, rowTaps: Taps?, colTaps: Taps?,
                             _ attrs: NormalizedProjectionAttrs, x: UnsafePointer<Float>, features: UnsafePointer<Float>,
                             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, cached: inout (Int, Int)) throws {
        let c = s.channels, w = s.width, plane = s.height * s.width
        let pixels = rows.count * w, p0 = rows.lowerBound * w
        // The channel-major [C, pixels] matrix the GEMM reads, and its leading dimension.
        let b: UnsafePointer<Float>, ldb: Int
        let norms: UnsafeMutablePointer<Float>
        let transB: Bool
        if let rowTaps, let colTaps {
            let q = scratch
            let slot0 = q + c * tiling.rowsPerTile * w, slot1 = slot0 + c * w
            let transposed = slot1 + c * w
            norms = transposed + c * s.inWidth
            let inPlane = s.inHeight * s.inWidth, iw = s.inWidth
            func resample(_ sourceRow: Int, into dst: UnsafeMutablePointer<Float>) {
                let src = x + sourceRow * iw
                // Eight channels at a time: eight contiguous reads, one 32-byte write per pixel.
                var ch = 0
                while ch + 8 <= c {
                    let f = src + ch * inPlane
                    for i in 0..<iw {
                        let v = SIMD8<Float>(f[i], f[i + inPlane], f[i + 2 * inPlane], f[i + 3 * inPlane],
                                             f[i + 4 * inPlane], f[i + 5 * inPlane], f[i + 6 * inPlane], f[i + 7 * inPlane])
                        UnsafeMutableRawPointer(transposed + i * c + ch).storeBytes(of: v, as: SIMD8<Float>.self)
                    }
                    ch += 8
                }
                while ch < c {
                    let from = src + ch * inPlane
                    for i in 0..<iw { transposed[i * c + ch] = from[i] }
                    ch += 1
                }
                for o in 0..<w {
                    let a = transposed + colTaps.i0[o] * c, b = transposed + colTaps.i1[o] * c, out = dst + o * c
                    let w1 = colTaps.w[o]
                    blend(out, a, b, w0: 1 - w1, w1: w1, count: c)
                }
            }
            for (k, r) in rows.enumerated() {
                let a0 = rowTaps.i0[r], a1 = rowTaps.i1[r]
                // Find or make both source rows, keeping a slot that holds the other one.
                var s0 = cached.0 == a0 ? 0 : (cached.1 == a0 ? 1 : -1)
                if s0 < 0 {
                    s0 = cached.0 == a1 ? 1 : 0
                    resample(a0, into: s0 == 0 ? slot0 : slot1)
                    if s0 == 0 { cached.0 = a0 } else { cached.1 = a0 }
                }
                let held = (s0 == 0 ? cached.0 : cached.1, s0 == 0 ? cached.1 : cached.0)
                var s1 = held.0 == a1 ? s0 : (held.1 == a1 ? 1 - s0 : -1)
                if s1 < 0 {
                    s1 = 1 - s0
                    resample(a1, into: s1 == 0 ? slot0 : slot1)
                    if s1 == 0 { cached.0 = a1 } else { cached.1 = a1 }
                }
                let top = s0 == 0 ? slot0 : slot1, bottom = s1 == 0 ? slot0 : slot1
                let w1 = rowTaps.w[r]
                blend(q + k * w * c, top, bottom, w0: 1 - w1, w1: w1, count: w * c)
            }
            // Squared norms of contiguous pixel vectors, eight partial sums at a time.
            for p in 0..<pixels { norms[p] = squaredNorm(q + p * c, c) }
            b = UnsafePointer(q); ldb = c; transB = true
        } else {
            norms = scratch
            b = x + p0; ldb = plane; transB = false
            norms.update(repeating: 0, count: pixels)
            for ch in 0..<c { accumulateSquares(norms, b + ch * ldb, count: pixels) }
        }
        try GemmKernels.sgemm(transA: false, transB: transB, m: s.labels, n: pixels, k: c, alpha: 1,
                              a: features, lda: c, b: b, ldb: ldb, beta: 0, c: y + p0, ldc: plane, threads: 1)
        let scale = attrs.scale
        switch attrs.normGuard {
        case .none: for p in 0..<pixels { norms[p] = scale / norms[p].squareRoot() }
        case .clampNorm(let e): for p in 0..<pixels { norms[p] = scale / max(norms[p].squareRoot(), e) }
        case .addToSquaredSum(let e): for p in 0..<pixels { norms[p] = scale / (norms[p] + e).squareRoot() }
        }
        for n in 0..<s.labels { multiply(y + n * plane + p0, by: norms, count: pixels) }
    }

    // Vector loops: the pointers may alias as far as the compiler knows, so plain loops over
    // them stay scalar; these load and store eight lanes explicitly.

    /// out = w0 * a + w1 * b, elementwise (the Resize kernel's blend).
    @inline(__always)
    private static func blend(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              w0: Float, w1: Float, count: Int) {
        let v0 = SIMD8<Float>(repeating: w0), v1 = SIMD8<Float>(repeating: w1)
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v0 * x + v1 * y, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { out[i] = w0 * a[i] + w1 * b[i]; i += 1 }
    }

    /// acc += v * v, elementwise.
    @inline(__always)
    private static func accumulateSquares(_ acc: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self)
            let s = UnsafeRawPointer(acc + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(acc + i).storeBytes(of: s + x * x, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { acc[i] += v[i] * v[i]; i += 1 }
    }

    /// y *= f, elementwise.
    @inline(__always)
    private static func multiply(_ y: UnsafeMutablePointer<Float>, by f: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let a = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(f + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: a * b, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { y[i] *= f[i]; i += 1 }
    }

    /// Sum of squares of `count` contiguous floats (eight lanes, then the lanes summed).
    @inline(__always)
    private static func squaredNorm(_ v: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let u = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self)
            acc += u * u
            i += 8
        }
        var sum = acc.sum()
        while i < count { sum += v[i] * v[i]; i += 1 }
        return sum
    }

    // MARK: scalar reference

    /// Pixel by pixel in double: resample each channel with the Resize taps, norm, dot with
    /// every feature row, scale. x is [1, C, h, w], features [N, C]; returns [1, N, H, W] values.
    static func reference(_ attrs: NormalizedProjectionAttrs, x: [Float], xShape: [Int], features: [Float],
                          featureShape: [Int]) throws -> [Float] {
        let (s, plan) = try NormalizedProjection.shapes(attrs, x: xShape, features: featureShape)
        let rowTaps = plan.map { Taps($0, axis: 2, resizeAttrs(attrs.upsample!)) }
        let colTaps = plan.map { Taps($0, axis: 3, resizeAttrs(attrs.upsample!)) }
        let plane = s.height * s.width, inPlane = s.inHeight * s.inWidth
        var y = [Float](repeating: 0, count: s.labels * plane)
        var u = [Double](repeating: 0, count: s.channels)
        for i in 0..<s.height {
            for j in 0..<s.width {
                for ch in 0..<s.channels {
                    let base = ch * inPlane
                    if let rowTaps, let colTaps {
                        func at(_ r: Int, _ c: Int) -> Double { Double(x[base + r * s.inWidth + c]) }
                        let wy = Double(rowTaps.w[i]), wx = Double(colTaps.w[j])
                        let top = (1 - wx) * at(rowTaps.i0[i], colTaps.i0[j]) + wx * at(rowTaps.i0[i], colTaps.i1[j])
                        let bottom = (1 - wx) * at(rowTaps.i1[i], colTaps.i0[j]) + wx * at(rowTaps.i1[i], colTaps.i1[j])
                        u[ch] = (1 - wy) * top + wy * bottom
                    } else {
                        u[ch] = Double(x[base + i * s.width + j])
                    }
                }
                let sum = u.reduce(0) { $0 + $1 * $1 }
                let norm: Double
                switch attrs.normGuard {
                case .none: norm = sum.squareRoot()
                case .clampNorm(let e): norm = max(sum.squareRoot(), Double(e))
                case .addToSquaredSum(let e): norm = (sum + Double(e)).squareRoot()
                }
                for n in 0..<s.labels {
                    var dot = 0.0
                    for ch in 0..<s.channels { dot += u[ch] * Double(features[n * s.channels + ch]) }
                    y[n * plane + i * s.width + j] = Float(Double(attrs.scale) * dot / norm)
                }
            }
        }
        return y
    }
}
