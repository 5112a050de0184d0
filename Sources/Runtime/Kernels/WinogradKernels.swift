import CKernels
import Glibc

/// Winograd F(4x4, 3x3) convolution: 3x3 kernel, stride 1, dilation 1, one group, 2-D.
/// Per block of output tiles: input tiles transformed (winograd.c), the 36 products over
/// channels (one per point of the 6x6 transformed tile) by our micro-kernels on filters packed
/// once (winograd_products.c), then the output transform with bias, residual and activation
/// applied as the tiles are written. Each thread takes whole tile blocks
/// and its own slice of the workspace, so the phases need no barrier between threads.
/// Filters are transformed once per model through `ExecContext.prepared` (per call without it).
enum WinogradKernels {
    /// Tiles per block: the column count of the 36 products. Small enough that a block's
    /// transformed input and products (36 * (C + K) * 32 floats, 2.4 MB at C = K = 256) stay near
    /// L2 between the phases. Measured per layer on one core (thread CPU time, C = K = 256, 96x96,
    /// AVX-512): 16 tiles 66 ms, 32 tiles 46 ms, 64 tiles 48 ms, 128 tiles 52 ms.
    static let tileBlock = 32
    /// Thread slices the planned workspace provides for (the run uses min(this, ctx.threads)).
    static let maxSlices = Swift.max(1, Swift.min(8, ProcessorCount.active))

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

    /// Output channels rounded up to whole filter panels (the products write the padding rows).
    static func paddedChannels(_ k: Int) -> Int {
        let panel = Int(LSEG_WINOGRAD_PANEL)
        return (k + panel - 1) / panel * panel
    }

    /// Floats of one thread's slice: transformed input (36 planes of C x cols) and products (36 of K x cols).
    static func sliceFloats(_ g: Convolution.Geometry, columns: Int) -> Int {
        36 * (planeFloats(rows: g.inChannels, columns: columns)
              + planeFloats(rows: paddedChannels(g.outChannels), columns: columns))
    }

    /// The tile block a slice processes at a time: `tileBlock` tiles, or its whole share when
    /// smaller. The last block of a share computes only its own columns rounded up to 16 (a share
    /// of 72 runs as 32 + 32 + 16 columns; evened-out blocks of 24 would compute 3 x 32).
    static func blockTiles(_ g: Convolution.Geometry, slices: Int) -> Int {
        let share = (tileCount(g) + slices - 1) / slices
        return Swift.max(1, Swift.min(tileBlock, blockColumns(share)))
    }

    /// Below this many tiles per thread the threads split the output channels of each tile block
    /// instead of the tiles (tile shares this small would leave most product columns padding).
    static let channelSplitTiles = 64

    static func splitsChannels(_ g: Convolution.Geometry, threads: Int) -> Bool {
        threads > 1 && tileCount(g) < channelSplitTiles * threads
    }

    /// The tile block of the channel-split mode: an image's tiles in the fewest blocks of at most
    /// 2 * tileBlock (one block's buffers are shared by all threads).
    static func sharedBlockTiles(_ g: Convolution.Geometry) -> Int {
        let perImage = ((g.outSpatial[0] + 3) / 4) * ((g.outSpatial[1] + 3) / 4)
        let blocks = Swift.max(1, (perImage + 2 * tileBlock - 1) / (2 * tileBlock))
        return Swift.max(1, (perImage + blocks - 1) / blocks)
    }

    static func workspaceBytes(_ g: Convolution.Geometry) -> Int {
        let slices = Swift.min(maxSlices, Swift.max(1, tileCount(g)))
        let perSlice = slices * sliceFloats(g, columns: blockColumns(blockTiles(g, slices: slices)))
        let shared = sliceFloats(g, columns: blockColumns(sharedBlockTiles(g)))
        return Swift.max(perSlice, shared) * 4
    }

    /// The filters transformed and packed in panels (lseg_winograd_filter_transform): prepared once per model when the
    /// context keeps prepared weights; otherwise transformed into `owned`, which the caller frees.
    static func transformedFilters(_ g: Convolution.Geometry, weight: UnsafePointer<Float>, _ ctx: ExecContext)
        -> (filters: UnsafePointer<Float>, owned: UnsafeMutablePointer<Float>?) {
        let k = g.outChannels, c = g.inChannels, panel = Int(LSEG_WINOGRAD_PANEL)
        let panels = (k + panel - 1) / panel, floats = 36 * panels * panel * c
        let fill = { (u: UnsafeMutablePointer<Float>) in
            ctx.parallelFor(panels, costPerItem: panel * c * 200) { r in
                lseg_winograd_filter_transform(weight, Int64(k), Int64(c), Int64(r.lowerBound * panel),
                                               Int64(r.upperBound * panel), u)
            }
        }
        if let prepared = ctx.prepared(forInput: 1) {  // input 1: the conv weight
            let raw = prepared.layout(kind: "winograd-f4x3 panels\(panel) K\(k) C\(c)", of: UnsafeRawPointer(weight),
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
                     path: Int32 = lseg_winograd_best_path()) throws {
        guard lseg_winograd_path_supported(path) != 0 else { throw OpError("Winograd path \(path) is not supported on this CPU") }
        let k = g.outChannels
        if tileCount(g) == 0 || k == 0 { return }
        let (u, owned) = transformedFilters(g, weight: weight, ctx)
        defer { owned?.deallocate() }
        let (code, alpha) = activation.kernelCode
        let inKernel = code == LSEG_ACT_NONE || code == LSEG_ACT_RELU || code == LSEG_ACT_LEAKYRELU

        guard let ws = ctx.workspace?.assumingMemoryBound(to: Float.self) else {
            throw OpError("Winograd convolution needs a workspace (none planned)")
        }
        let epilogue = inKernel ? code : Int32(LSEG_ACT_NONE)
        if splitsChannels(g, threads: Swift.min(ctx.threads, maxSlices)) {
            try convSplittingChannels(g, x: x, u: u, bias: bias, residual: residual, y: y, act: epilogue, alpha: alpha,
                                      preRelu: preRelu, workspace: ws, ctx, path: path)
        } else {
            try convSplittingTiles(g, x: x, u: u, bias: bias, residual: residual, y: y, act: epilogue, alpha: alpha,
                                   preRelu: preRelu, workspace: ws, ctx, path: path)
        }
        if !inKernel {
            let p = g.outSize
            for n in 0..<g.batch {
                GemmKernels.biasActivation(y + n * k * p, rows: k, cols: p, ld: p, colBias: nil, rowBias: nil, activation, ctx)
            }
        }
    }

    /// Each thread takes whole tile blocks with its own slice of the workspace: no barrier between phases.
    private static func convSplittingTiles(_ g: Convolution.Geometry, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                           y: UnsafeMutablePointer<Float>, act: Int32, alpha: Float, preRelu: Bool,
                                           workspace ws: UnsafeMutablePointer<Float>, _ ctx: ExecContext,
                                           path: Int32) throws {
        let tiles = tileCount(g), k = g.outChannels, c = g.inChannels
        var geometry = geometry(g)
        let panels = Int64(paddedChannels(k) / Int(LSEG_WINOGRAD_PANEL))
        // As many slices as the workspace holds and threads run, each with its own block size.
        var slices = Swift.min(ctx.threads, maxSlices, tiles)
        var block = blockTiles(g, slices: slices)
        while slices > 1 && slices * sliceFloats(g, columns: blockColumns(block)) * 4 > ctx.workspaceBytes {
            slices -= 1
            block = blockTiles(g, slices: slices)
        }
        let columns = blockColumns(block), slice = sliceFloats(g, columns: columns)
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
                let v = ws + s * slice, m = v + 36 * planeV
                let t0 = b * block, t1 = Swift.min(tiles, t0 + block)
                lseg_winograd_input_transform(path, x, geo, Int64(t0), Int64(t1), preRelu ? 1 : 0, v, Int64(columns),
                                              Int64(planeV))
                lseg_winograd_products(path, u, Int64(k), Int64(c), v, Int64(columns), Int64(planeV), m, Int64(planeM),
                                       Int64(blockColumns(t1 - t0)), 36, 0, panels)
                lseg_winograd_output_transform(path, m, Int64(columns), Int64(planeM), geo, Int64(t0), Int64(t1), 0, Int64(k), bias,
                                               residual, act, alpha, y)
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
                                              path: Int32) throws {
        let k = g.outChannels, c = g.inChannels, panel = Int(LSEG_WINOGRAD_PANEL)
        let panels = paddedChannels(k) / panel
        let block = sharedBlockTiles(g), columns = blockColumns(block)
        let planeV = planeFloats(rows: c, columns: columns)
        let planeM = planeFloats(rows: paddedChannels(k), columns: columns)
        guard sliceFloats(g, columns: columns) * 4 <= ctx.workspaceBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is too small for a Winograd block of \(sliceFloats(g, columns: columns) * 4) bytes")
        }
        let v = ws, m = ws + 36 * planeV
        let perImage = ((g.outSpatial[0] + 3) / 4) * ((g.outSpatial[1] + 3) / 4)
        let inPlane = g.inSize, outPlane = g.outSize
        for n in 0..<g.batch {
            // One image at a time, so a channel range is a plain offset into the image's planes.
            let xn = x + n * c * inPlane, yn = y + n * k * outPlane, rn = residual.map { $0 + n * k * outPlane }
            var t0 = 0
            while t0 < perImage {
                let t1 = Swift.min(perImage, t0 + block)
                ctx.parallelFor(c, costPerItem: (t1 - t0) * 200) { r in
                    var sub = geometry(g)
                    sub.C = Int64(r.count)
                    withUnsafePointer(to: &sub) { geo in
                        _ = lseg_winograd_input_transform(path, xn + r.lowerBound * inPlane, geo, Int64(t0), Int64(t1),
                                                          preRelu ? 1 : 0, v + r.lowerBound * columns, Int64(columns),
                                                          Int64(planeV))
                    }
                }
                var geo = geometry(g)
                withUnsafePointer(to: &geo) { geo in
                    ctx.parallelFor(panels, costPerItem: 36 * panel * c * columns * 2) { r in
                        lseg_winograd_products(path, u, Int64(k), Int64(c), v, Int64(columns), Int64(planeV), m, Int64(planeM),
                                               Int64(blockColumns(t1 - t0)), 36, Int64(r.lowerBound), Int64(r.upperBound))
                        lseg_winograd_output_transform(path, m, Int64(columns), Int64(planeM), geo, Int64(t0), Int64(t1),
                                                       Int64(r.lowerBound * panel), Int64(Swift.min(k, r.upperBound * panel)),
                                                       bias, rn, act, alpha, yn)
                    }
                }
                t0 = t1
            }
        }
    }
}
