import CKernels
import Glibc

/// Winograd F(4x4, 3x3) or F(6x6, 3x3) convolution: 3x3 kernel, stride 1, dilation 1, one group, 2-D.
/// Per block of output tiles: input tiles transformed (winograd.c, winograd_f6.c), the 36 or 64
/// products over channels (one per point of the 6x6 or 8x8 transformed tile) by our micro-kernels
/// on filters packed once (winograd_products.c), then the output transform with bias, residual and
/// activation applied as the tiles are written. Each thread takes whole tile blocks
/// and its own slice of the workspace, so the phases need no barrier between threads.
/// Filters are transformed once per model through `ExecContext.prepared` (per call without it).
enum WinogradKernels {
    /// The two variants: output tiles of 4x4 (36 products a tile) or 6x6 (64 products, 21 % fewer
    /// per output, costlier transforms and a larger rounding error). Convolution.winogradTiling picks.
    enum Tiling: Sendable {
        case f4, f6
        /// Output tile side.
        var tile: Int { self == .f4 ? 4 : 6 }
        /// Points of the transformed tile: products per tile.
        var points: Int { self == .f4 ? 36 : 64 }
    }

    /// Tiles per block: the column count of the 36 products. Small enough that a block's
    /// transformed input and products (36 * (C + K) * 32 floats, 2.4 MB at C = K = 256) stay near
    /// L2 between the phases. Measured per layer on one core (thread CPU time, C = K = 256, 96x96,
    /// AVX-512): 16 tiles 66 ms, 32 tiles 46 ms, 64 tiles 48 ms, 128 tiles 52 ms. F(6x6, 3x3)'s
    /// block (64 * (C + K) * 32 floats, 4.2 MB) is past L2, but the same layer measured 16 tiles
    /// 52 ms, 24 tiles 51 ms, 32 tiles 39 ms, 48 tiles 43 ms, 64 tiles 47 ms: 32 for both.
    static let tileBlock = 32
    /// Thread slices the planned workspace provides for (the run uses min(this, ctx.threads)).
    static let maxSlices = Swift.max(1, Swift.min(8, ProcessorCount.active))

    static func geometry(_ g: Convolution.Geometry, _ tiling: Tiling) -> lseg_winograd_geometry {
        var w = lseg_winograd_geometry()
        w.C = Int64(g.inChannels); w.H = Int64(g.inSpatial[0]); w.W = Int64(g.inSpatial[1])
        w.K = Int64(g.outChannels); w.OH = Int64(g.outSpatial[0]); w.OW = Int64(g.outSpatial[1])
        w.pad_h = Int64(g.padBegin[0]); w.pad_w = Int64(g.padBegin[1])
        w.tiles_h = Int64(tilesPerImage(g, tiling).rows); w.tiles_w = Int64(tilesPerImage(g, tiling).columns)
        return w
    }

    static func tilesPerImage(_ g: Convolution.Geometry, _ tiling: Tiling) -> (rows: Int, columns: Int) {
        let t = tiling.tile
        return ((g.outSpatial[0] + t - 1) / t, (g.outSpatial[1] + t - 1) / t)
    }

    static func tileCount(_ g: Convolution.Geometry, _ tiling: Tiling) -> Int {
        let (rows, columns) = tilesPerImage(g, tiling)
        return g.batch * rows * columns
    }

    /// Columns of one block's products: the block's tile count rounded up to 16 (aligned rows).
    static func blockColumns(_ tiles: Int) -> Int { (tiles + 15) / 16 * 16 }

    /// Stride between the 36 matrices of `rows` x `columns`: 16 floats more than dense, so the
    /// 36 rows the transforms touch together do not all map to the same cache sets.
    static func planeFloats(rows: Int, columns: Int) -> Int { rows * columns + 16 }

    /// Output channels rounded up to whole filter panels (the products write the padding rows).
    static func paddedChannels(_ k: Int) -> Int {
        let panel = Int(LSEG_WINOGRAD_PANEL)
        return (k + panel - 1) / panel * panel
    }

    /// Floats of one thread's slice: transformed input (36 or 64 planes of C x cols) and products (as many of K x cols).
    static func sliceFloats(_ g: Convolution.Geometry, _ tiling: Tiling, columns: Int) -> Int {
        tiling.points * (planeFloats(rows: g.inChannels, columns: columns)
              + planeFloats(rows: paddedChannels(g.outChannels), columns: columns))
    }

    /// The tile block a slice processes at a time: `tileBlock` tiles, or its whole share when
    /// smaller. The last block of a share computes only its own columns rounded up to 16 (a share
    /// of 72 runs as 32 + 32 + 16 columns; evened-out blocks of 24 would compute 3 x 32).
    static func blockTiles(_ g: Convolution.Geometry, _ tiling: Tiling, slices: Int) -> Int {
        let share = (tileCount(g, tiling) + slices - 1) / slices
        return Swift.max(1, Swift.min(tileBlock, blockColumns(share)))
    }

    /// Below this many tiles per thread the threads split the output channels of each tile block
    /// instead of the tiles (tile shares this small would leave most product columns padding).
    static let channelSplitTiles = 64

    static func splitsChannels(_ g: Convolution.Geometry, _ tiling: Tiling, threads: Int) -> Bool {
        threads > 1 && tileCount(g, tiling) < channelSplitTiles * threads
    }

    /// The tile block of the channel-split mode: an image's tiles in the fewest blocks of at most
    /// 2 * tileBlock (one block's buffers are shared by all threads).
    static func sharedBlockTiles(_ g: Convolution.Geometry, _ tiling: Tiling) -> Int {
        let perImage = tileCount(g, tiling) / Swift.max(g.batch, 1)
        let blocks = Swift.max(1, (perImage + 2 * tileBlock - 1) / (2 * tileBlock))
        return Swift.max(1, (perImage + blocks - 1) / blocks)
    }

    static func workspaceBytes(_ g: Convolution.Geometry, _ tiling: Tiling? = nil) -> Int {
        let tiling = tiling ?? Convolution.winogradTiling(g)
        let slices = Swift.min(maxSlices, Swift.max(1, tileCount(g, tiling)))
        let perSlice = slices * sliceFloats(g, tiling, columns: blockColumns(blockTiles(g, tiling, slices: slices)))
        let shared = sliceFloats(g, tiling, columns: blockColumns(sharedBlockTiles(g, tiling)))
        return Swift.max(perSlice, shared) * 4
    }

    /// The filters transformed and packed in panels (lseg_winograd_filter_transform): prepared once per model when the
    /// context keeps prepared weights; otherwise transformed into `owned`, which the caller frees.
    static func transformedFilters(_ g: Convolution.Geometry, _ tiling: Tiling, weight: UnsafePointer<Float>,
                                   _ ctx: ExecContext) -> (filters: UnsafePointer<Float>, owned: UnsafeMutablePointer<Float>?) {
        let k = g.outChannels, c = g.inChannels, panel = Int(LSEG_WINOGRAD_PANEL)
        let panels = (k + panel - 1) / panel, floats = tiling.points * panels * panel * c
        let fill = { (u: UnsafeMutablePointer<Float>) in
            ctx.parallelFor(panels, costPerItem: panel * c * 4 * tiling.points) { r in
                let (k0, k1) = (Int64(r.lowerBound * panel), Int64(r.upperBound * panel))
                switch tiling {
                case .f4: lseg_winograd_filter_transform(weight, Int64(k), Int64(c), k0, k1, u)
                case .f6: lseg_winograd6_filter_transform(weight, Int64(k), Int64(c), k0, k1, u)
                }
            }
        }
        if let prepared = ctx.prepared(forInput: 1) {  // input 1: the conv weight
            let kind = tiling == .f4 ? "winograd-f4x3" : "winograd-f6x3"
            let raw = prepared.layout(kind: "\(kind) panels\(panel) K\(k) C\(c)", of: UnsafeRawPointer(weight),
                                      byteCount: floats * 4) { fill($0.assumingMemoryBound(to: Float.self)) }
            return (raw.assumingMemoryBound(to: Float.self), nil)
        }
        let owned = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        fill(owned)
        return (UnsafePointer(owned), owned)
    }

    static func conv(_ g: Convolution.Geometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                     bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                     activation: Activation, preRelu: Bool, _ ctx: ExecContext,
                     path: Int32 = lseg_winograd_best_path(), tiling chosen: Tiling? = nil) throws {
        guard lseg_winograd_path_supported(path) != 0 else { throw OpError("Winograd path \(path) is not supported on this CPU") }
        let k = g.outChannels, tiling = chosen ?? Convolution.winogradTiling(g)
        if tileCount(g, tiling) == 0 || k == 0 { return }
        let (u, owned) = transformedFilters(g, tiling, weight: weight, ctx)
        defer { owned?.deallocate() }
        let (code, alpha) = activation.kernelCode
        let inKernel = code == LSEG_ACT_NONE || code == LSEG_ACT_RELU || code == LSEG_ACT_LEAKYRELU

        guard let ws = ctx.workspace?.assumingMemoryBound(to: Float.self) else {
            throw OpError("Winograd convolution needs a workspace (none planned)")
        }
        let epilogue = inKernel ? code : Int32(LSEG_ACT_NONE)
        let transforms = Transforms(tiling, path: path)
        if splitsChannels(g, tiling, threads: Swift.min(ctx.threads, maxSlices)) {
            try convSplittingChannels(g, x: x, u: u, bias: bias, residual: residual, y: y, act: epilogue, alpha: alpha,
                                      preRelu: preRelu, workspace: ws, ctx, transforms)
        } else {
            try convSplittingTiles(g, x: x, u: u, bias: bias, residual: residual, y: y, act: epilogue, alpha: alpha,
                                   preRelu: preRelu, workspace: ws, ctx, transforms)
        }
        if !inKernel {
            let p = g.outSize
            for n in 0..<g.batch {
                GemmKernels.biasActivation(y + n * k * p, rows: k, cols: p, ld: p, colBias: nil, rowBias: nil, activation, ctx)
            }
        }
    }

    /// The kernels of one tiling and path: the two transforms (winograd.c or winograd_f6.c) and the
    /// point count of the shared products.
    struct Transforms {
        let tiling: Tiling, path: Int32

        init(_ tiling: Tiling, path: Int32) { self.tiling = tiling; self.path = path }

        func input(_ x: UnsafePointer<Float>, _ geo: UnsafePointer<lseg_winograd_geometry>, _ t0: Int, _ t1: Int,
                   preRelu: Bool, _ v: UnsafeMutablePointer<Float>, ld: Int, plane: Int) {
            let f = tiling == .f4 ? lseg_winograd_input_transform : lseg_winograd6_input_transform
            _ = f(path, x, geo, Int64(t0), Int64(t1), preRelu ? 1 : 0, v, Int64(ld), Int64(plane))
        }

        func products(_ u: UnsafePointer<Float>, k: Int, c: Int, _ v: UnsafePointer<Float>, ld: Int, planeV: Int,
                      _ m: UnsafeMutablePointer<Float>, planeM: Int, columns: Int, panels: Range<Int>) {
            _ = lseg_winograd_products(path, u, Int64(k), Int64(c), v, Int64(ld), Int64(planeV), m, Int64(planeM),
                                       Int64(columns), Int64(tiling.points), Int64(panels.lowerBound),
                                       Int64(panels.upperBound))
        }

        func output(_ m: UnsafePointer<Float>, ld: Int, plane: Int, _ geo: UnsafePointer<lseg_winograd_geometry>,
                    _ t0: Int, _ t1: Int, channels: Range<Int>, bias: UnsafePointer<Float>?,
                    residual: UnsafePointer<Float>?, act: Int32, alpha: Float, _ y: UnsafeMutablePointer<Float>) {
            let f = tiling == .f4 ? lseg_winograd_output_transform : lseg_winograd6_output_transform
            _ = f(path, m, Int64(ld), Int64(plane), geo, Int64(t0), Int64(t1), Int64(channels.lowerBound),
                  Int64(channels.upperBound), bias, residual, act, alpha, y)
        }
    }

    /// Each thread takes whole tile blocks with its own slice of the workspace: no barrier between phases.
    private static func convSplittingTiles(_ g: Convolution.Geometry, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                           y: UnsafeMutablePointer<Float>, act: Int32, alpha: Float, preRelu: Bool,
                                           workspace ws: UnsafeMutablePointer<Float>, _ ctx: ExecContext,
                                           _ kernels: Transforms) throws {
        let tiling = kernels.tiling
        let tiles = tileCount(g, tiling), k = g.outChannels, c = g.inChannels
        var geometry = geometry(g, tiling)
        let panels = paddedChannels(k) / Int(LSEG_WINOGRAD_PANEL)
        // As many slices as the workspace holds and threads run, each with its own block size.
        var slices = Swift.min(ctx.threads, maxSlices, tiles)
        var block = blockTiles(g, tiling, slices: slices)
        while slices > 1 && slices * sliceFloats(g, tiling, columns: blockColumns(block)) * 4 > ctx.workspaceBytes {
            slices -= 1
            block = blockTiles(g, tiling, slices: slices)
        }
        let columns = blockColumns(block), slice = sliceFloats(g, tiling, columns: columns)
        let planeV = planeFloats(rows: c, columns: columns)
        let planeM = planeFloats(rows: paddedChannels(k), columns: columns)
        guard slice * 4 <= ctx.workspaceBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a Winograd block of \(slice * 4) bytes")
        }
        withUnsafePointer(to: &geometry) { geo in
            // Each slice (one thread's buffers) takes tile blocks until none is left: a thread
            // slowed by another process takes fewer blocks instead of holding up the layer.
            let blocks = (tiles + block - 1) / block
            ctx.parallelItems(blocks, slots: slices, costPerItem: Int.max / Swift.max(blocks, 1)) { s, b in
                let v = ws + s * slice, m = v + tiling.points * planeV
                let t0 = b * block, t1 = Swift.min(tiles, t0 + block)
                kernels.input(x, geo, t0, t1, preRelu: preRelu, v, ld: columns, plane: planeV)
                kernels.products(u, k: k, c: c, v, ld: columns, planeV: planeV, m, planeM: planeM,
                                 columns: blockColumns(t1 - t0), panels: 0..<panels)
                kernels.output(m, ld: columns, plane: planeM, geo, t0, t1, channels: 0..<k, bias: bias,
                               residual: residual, act: act, alpha: alpha, y)
            }
        }
    }

    /// For few tiles: per tile block of one image, the threads transform the input by channel
    /// ranges, then compute the products and output transform by ranges of filter panels, in
    /// one shared block buffer (two barriers per block instead of mostly-padding tile shares).
    private static func convSplittingChannels(_ g: Convolution.Geometry, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                                              bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                              y: UnsafeMutablePointer<Float>, act: Int32, alpha: Float, preRelu: Bool,
                                              workspace ws: UnsafeMutablePointer<Float>, _ ctx: ExecContext,
                                              _ kernels: Transforms) throws {
        let tiling = kernels.tiling
        let k = g.outChannels, c = g.inChannels, panel = Int(LSEG_WINOGRAD_PANEL)
        let panels = paddedChannels(k) / panel
        let block = sharedBlockTiles(g, tiling), columns = blockColumns(block)
        let planeV = planeFloats(rows: c, columns: columns)
        let planeM = planeFloats(rows: paddedChannels(k), columns: columns)
        let sliceBytes = sliceFloats(g, tiling, columns: columns) * 4
        guard sliceBytes <= ctx.workspaceBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a Winograd block of \(sliceBytes) bytes")
        }
        let v = ws, m = ws + tiling.points * planeV
        let perImage = tileCount(g, tiling) / g.batch
        let inPlane = g.inSize, outPlane = g.outSize
        for n in 0..<g.batch {
            // One image at a time, so a channel range is a plain offset into the image's planes.
            let xn = x + n * c * inPlane, yn = y + n * k * outPlane, rn = residual.map { $0 + n * k * outPlane }
            var t0 = 0
            while t0 < perImage {
                let t1 = Swift.min(perImage, t0 + block)
                ctx.parallelFor(c, costPerItem: (t1 - t0) * 200) { r in
                    var sub = geometry(g, tiling)
                    sub.C = Int64(r.count)
                    withUnsafePointer(to: &sub) { geo in
                        kernels.input(xn + r.lowerBound * inPlane, geo, t0, t1, preRelu: preRelu,
                                      v + r.lowerBound * columns, ld: columns, plane: planeV)
                    }
                }
                var geo = geometry(g, tiling)
                withUnsafePointer(to: &geo) { geo in
                    ctx.parallelFor(panels, costPerItem: tiling.points * panel * c * columns * 2) { r in
                        kernels.products(u, k: k, c: c, v, ld: columns, planeV: planeV, m, planeM: planeM,
                                         columns: blockColumns(t1 - t0), panels: r)
                        kernels.output(m, ld: columns, plane: planeM, geo, t0, t1,
                                       channels: (r.lowerBound * panel)..<Swift.min(k, r.upperBound * panel), bias: bias,
                                       residual: rn, act: act, alpha: alpha, yn)
                    }
                }
                t0 = t1
            }
        }
    }
}
