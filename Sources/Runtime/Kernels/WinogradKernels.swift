import CKernels
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Winograd F(4x4, 3x3) convolution: 3x3 kernel, stride 1, dilation 1, one group, 2-D.
/// Per block of output tiles: input tiles transformed (winograd.c), 36 sgemm calls over
/// channels (one per point of the 6x6 transformed tile), then the output transform with bias,
/// residual and activation applied as the tiles are written. Each thread owns whole tile blocks
/// and its own slice of the workspace, so the phases need no barrier between threads.
/// Filters are transformed once per model through `ExecContext.prepared` (per call without it).
enum WinogradKernels {
    /// Tiles per block: the column count of the 36 products. Measured on one core (C = K = 256,
    /// 96x96): 32 tiles 75 ms, 64 tiles 64 ms, 128 tiles 59 ms, 256 tiles 56 ms; 128 keeps most of
    /// the gain at half the workspace of 256 (36 * (C + K) * 128 floats, 9.4 MB per thread).
    static let tileBlock = 128
    /// Thread slices the planned workspace provides for (the run uses min(this, ctx.threads)).
    static let maxSlices = Swift.max(1, Swift.min(8, ProcessInfo.processInfo.activeProcessorCount))

    static func geometry(_ g: Convolution.Geometry) -> lseg_winograd_geometry {
        var w = lseg_winograd_geometry()
        w.C = Int64(g.inChannels); w.H = Int64(g.inSpatial[0]); w.W = Int64(g.inSpatial[1])
        w.K = Int64(g.outChannels); w.OH = Int64(g.outSpatial[0]); w.OW = Int64(g.outSpatial[1])
        w.pad_h = Int64(g.padBegin[0]); w.pad_w = Int64(g.padBegin[1])
        w.tiles_h = Int64((g.outSpatial[0] + 3) / 4); w.tiles_w = Int64((g.outSpatial[1] + 3) / 4)
        return w
    }

    static func tileCount(_ g: Convolution.Geometry) -> Int {
        g.batch * ((g.outSpatial[0] + 3) / 4) * ((g.outSpatial[1] + 3) / 4)
    }

    /// Columns of one block's products: the block's tile count rounded up to 16 (aligned rows).
    static func blockColumns(_ tiles: Int) -> Int { (tiles + 15) / 16 * 16 }

    /// Stride between the 36 matrices of `rows` x `columns`: 16 floats more than dense, so the
    /// 36 rows the transforms touch together do not all map to the same cache sets.
    static func planeFloats(rows: Int, columns: Int) -> Int { rows * columns + 16 }

    /// Floats of one thread's slice: transformed input (36 planes of C x cols) and products (36 of K x cols).
    static func sliceFloats(_ g: Convolution.Geometry, columns: Int) -> Int {
        36 * (planeFloats(rows: g.inChannels, columns: columns) + planeFloats(rows: g.outChannels, columns: columns))
    }

    /// The tile block a slice processes at a time: its share of the tiles split into the fewest
    /// blocks of at most `tileBlock` tiles, evened out and rounded up to the transforms' 16 lanes
    /// (so a share of 72 runs as 2 x 48 columns, not 64 + 16 with 8 columns of padding).
    static func blockTiles(_ g: Convolution.Geometry, slices: Int) -> Int {
        let share = (tileCount(g) + slices - 1) / slices
        let blocks = Swift.max(1, (share + tileBlock - 1) / tileBlock)
        return Swift.max(1, blockColumns((share + blocks - 1) / blocks))
    }

    static func workspaceBytes(_ g: Convolution.Geometry) -> Int {
        let slices = Swift.min(maxSlices, Swift.max(1, tileCount(g)))
        return slices * sliceFloats(g, columns: blockColumns(blockTiles(g, slices: slices))) * 4
    }

    /// The filters in the transformed layout u[xi][k][c]: prepared once per model when the
    /// context keeps prepared weights; otherwise transformed into `owned`, which the caller frees.
    static func transformedFilters(_ g: Convolution.Geometry, weight: UnsafePointer<Float>, _ ctx: ExecContext)
        -> (filters: UnsafePointer<Float>, owned: UnsafeMutablePointer<Float>?) {
        let k = g.outChannels, c = g.inChannels
        let fill = { (u: UnsafeMutablePointer<Float>) in
            ctx.parallelFor(k, costPerItem: c * 200) { r in
                lseg_winograd_filter_transform(weight, Int64(k), Int64(c), Int64(r.lowerBound), Int64(r.upperBound), u)
            }
        }
        if let prepared = ctx.prepared(forInput: 1) {  // input 1: the conv weight
            let raw = prepared.layout(kind: "winograd-f4x3 K\(k) C\(c)", of: UnsafeRawPointer(weight),
                                      byteCount: 36 * k * c * 4) { fill($0.assumingMemoryBound(to: Float.self)) }
            return (raw.assumingMemoryBound(to: Float.self), nil)
        }
        let owned = UnsafeMutablePointer<Float>.allocate(capacity: 36 * k * c)
        fill(owned)
        return (UnsafePointer(owned), owned)
    }

    static func conv(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                     bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                     activation: Activation, preRelu: Bool, _ ctx: ExecContext) throws {
        let tiles = tileCount(g), k = g.outChannels, c = g.inChannels
        if tiles == 0 || k == 0 { return }
        let (u, owned) = transformedFilters(g, weight: weight, ctx)
        defer { owned?.deallocate() }
        var geometry = geometry(g)
        let (code, alpha) = activation.kernelCode
        let inKernel = code == LSEG_ACT_NONE || code == LSEG_ACT_RELU || code == LSEG_ACT_LEAKYRELU

        guard let ws = ctx.workspace?.assumingMemoryBound(to: Float.self) else {
            throw OpError("Winograd convolution needs a workspace (none planned)")
        }
        // As many slices as the workspace holds and threads run, each with its own block size.
        var slices = Swift.min(ctx.threads, maxSlices, tiles)
        var block = blockTiles(g, slices: slices)
        while slices > 1 && slices * sliceFloats(g, columns: blockColumns(block)) * 4 > ctx.workspaceBytes {
            slices -= 1
            block = blockTiles(g, slices: slices)
        }
        let columns = blockColumns(block), slice = sliceFloats(g, columns: columns)
        let planeV = planeFloats(rows: c, columns: columns), planeM = planeFloats(rows: k, columns: columns)
        guard slice * 4 <= ctx.workspaceBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a Winograd block of \(slice * 4) bytes")
        }
        var failure: Error?
        let lock = PThreadLock()
        withUnsafePointer(to: &geometry) { geo in
            // One item per slice: each runs blocks s, s + slices, ... on the calling pool thread.
            ctx.parallelFor(slices, costPerItem: Int.max / Swift.max(slices, 1)) { r in
                for s in r {
                    // Slice s owns tiles [tiles * s / slices, tiles * (s + 1) / slices): equal shares.
                    let v = ws + s * slice, m = v + 36 * planeV
                    let end = tiles * (s + 1) / slices
                    var t0 = tiles * s / slices
                    while t0 < end {
                        let t1 = Swift.min(end, t0 + block)
                        lseg_winograd_input_transform(x, geo, Int64(t0), Int64(t1), preRelu ? 1 : 0, v, Int64(columns),
                                                      Int64(planeV))
                        do {
                            for xi in 0..<36 {
                                try GemmKernels.sgemm(transA: false, transB: false, m: k, n: columns, k: c, alpha: 1,
                                                      a: u + xi * k * c, lda: c, b: v + xi * planeV, ldb: columns,
                                                      beta: 0, c: m + xi * planeM, ldc: columns, threads: 1)
                            }
                        } catch {
                            lock.lock(); failure = error; lock.unlock()
                            return
                        }
                        lseg_winograd_output_transform(m, Int64(columns), Int64(planeM), geo, Int64(t0), Int64(t1), 0, Int64(k), bias,
                                                       residual, inKernel ? code : Int32(LSEG_ACT_NONE), alpha, y)
                        t0 = t1
                    }
                }
            }
        }
        if let failure { throw failure }
        if !inKernel {
            let p = g.outSize
            for n in 0..<g.batch {
                GemmKernels.biasActivation(y + n * k * p, rows: k, cols: p, ld: p, colBias: nil, rowBias: nil, activation, ctx)
            }
        }
    }
}
