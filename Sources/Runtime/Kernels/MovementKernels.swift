import Glibc

/// Data movement kernels: strided copies (transpose, slice, expand), concat, gather, pad.
/// They move bytes, so every dtype of the same width shares one loop.
enum MovementKernels {
    /// out[i] = x[base + sum(idx_d * strides[d])] over out's shape (strides in elements of x, any sign).
    static func stridedCopy(_ x: TensorView, baseOffset: Int, strides: [Int], _ out: TensorView, _ ctx: ExecContext) {
        let w = StridedWalk(dims: out.shape, strides: [Broadcast.contiguousStrides(out.shape), strides])
        switch x.dtype.byteSize {
        case 1: stridedCopy(w, x.pointer(UInt8.self) + baseOffset, out.pointer(UInt8.self), ctx)
        case 2: stridedCopy(w, x.pointer(UInt16.self) + baseOffset, out.pointer(UInt16.self), ctx)
        case 4: stridedCopy(w, x.pointer(UInt32.self) + baseOffset, out.pointer(UInt32.self), ctx)
        default: stridedCopy(w, x.pointer(UInt64.self) + baseOffset, out.pointer(UInt64.self), ctx)
        }
    }

    static func stridedCopy<T>(_ w: StridedWalk, _ src: UnsafeMutablePointer<T>, _ dst: UnsafeMutablePointer<T>, _ ctx: ExecContext) {
        let s = w.innerStride(1)
        ctx.parallelFor(w.count, costPerItem: 2) { range in
            w.forEachRun(range) { off, n in
                let o = dst + off[0], i = src + off[1]
                if s == 1 {
                    o.update(from: i, count: n)
                } else if s == 0 {
                    o.update(repeating: i[0], count: n)
                } else {
                    for k in 0..<n { o[k] = i[k * s] }
                }
            }
        }
    }

    /// Transpose: out dim d is x dim perm[d]. When the innermost dims swap (x's inner dim is not
    /// out's inner dim), copies go through 32x32 tiles so both sides stay cache friendly.
    static func transpose(_ x: TensorView, perm: [Int], _ out: TensorView, _ ctx: ExecContext) {
        let xs = Broadcast.contiguousStrides(x.shape)
        let strides = perm.map { xs[$0] }
        let w = StridedWalk(dims: out.shape, strides: [Broadcast.contiguousStrides(out.shape), strides])
        if w.innerStride(1) == 1 || w.dims.count < 2 {
            stridedCopy(x, baseOffset: 0, strides: strides, out, ctx)
            return
        }
        switch x.dtype.byteSize {
        case 1: tiledTranspose(w, x.pointer(UInt8.self), out.pointer(UInt8.self), ctx)
        case 2: tiledTranspose(w, x.pointer(UInt16.self), out.pointer(UInt16.self), ctx)
        case 4: tiledTranspose(w, x.pointer(UInt32.self), out.pointer(UInt32.self), ctx)
        default: tiledTranspose(w, x.pointer(UInt64.self), out.pointer(UInt64.self), ctx)
        }
    }

    /// Tiles over the last two merged output dims (rows r, cols c). Outer dims are walked by index.
    static func tiledTranspose<T>(_ w: StridedWalk, _ src: UnsafeMutablePointer<T>, _ dst: UnsafeMutablePointer<T>, _ ctx: ExecContext) {
        let rank = w.dims.count
        let rows = w.dims[rank - 2], cols = w.dims[rank - 1]
        let dRow = w.strides[0][rank - 2] // == cols
        let sRow = w.strides[1][rank - 2], sCol = w.strides[1][rank - 1]
        let outerDims = Array(w.dims[0..<(rank - 2)])
        let outerCount = Tensor.elementCount(outerDims)
        let outerStrides = [Array(w.strides[0][0..<(rank - 2)]), Array(w.strides[1][0..<(rank - 2)])]
        let tile = 32
        let rowTiles = (rows + tile - 1) / tile
        ctx.parallelFor(outerCount * rowTiles, costPerItem: tile * cols) { range in
            for job in range {
                let o = job / rowTiles, rt = job % rowTiles
                // Offsets of outer index o.
                var rem = o, dOff = 0, sOff = 0
                for d in stride(from: outerDims.count - 1, through: 0, by: -1) {
                    let i = rem % outerDims[d]
                    rem /= outerDims[d]
                    dOff += i * outerStrides[0][d]
                    sOff += i * outerStrides[1][d]
                }
                let r0 = rt * tile, r1 = Swift.min(rows, r0 + tile)
                var c0 = 0
                while c0 < cols {
                    let c1 = Swift.min(cols, c0 + tile)
                    for r in r0..<r1 {
                        let d = dst + dOff + r * dRow
                        let s = src + sOff + r * sRow
                        for c in c0..<c1 { d[c] = s[c * sCol] }
                    }
                    c0 = c1
                }
            }
        }
    }

    /// Concat along `axis`: each input contributes a block of shape[axis...] bytes per outer index.
    static func concat(_ xs: [TensorView], axis: Int, _ out: TensorView, _ ctx: ExecContext) {
        let outer = Tensor.elementCount(Array(out.shape[..<axis]))
        let es = out.dtype.byteSize
        let blocks = xs.map { Tensor.elementCount(Array($0.shape[axis...])) * es }
        let outBlock = blocks.reduce(0, +)
        let dst = out.data
        ctx.parallelFor(outer, costPerItem: Swift.max(1, outBlock / 4)) { range in
            for o in range {
                var at = o * outBlock
                for (k, x) in xs.enumerated() where blocks[k] > 0 {
                    (dst + at).copyMemory(from: x.data + o * blocks[k], byteCount: blocks[k])
                    at += blocks[k]
                }
            }
        }
    }

    /// Gather along `axis` with already-validated, non-negative indices.
    static func gather(_ x: TensorView, axis: Int, indices: [Int], _ out: TensorView, _ ctx: ExecContext) {
        let outer = Tensor.elementCount(Array(x.shape[..<axis]))
        let dim = x.shape[axis]
        let innerBytes = Tensor.elementCount(Array(x.shape[(axis + 1)...])) * x.dtype.byteSize
        let nIdx = indices.count
        let src = x.data, dst = out.data
        indices.withUnsafeBufferPointer { idx in
            let idx = idx
            ctx.parallelFor(outer * nIdx, costPerItem: Swift.max(1, innerBytes / 4)) { range in
                for job in range {
                    let o = job / nIdx, k = job % nIdx
                    (dst + job * innerBytes).copyMemory(from: src + (o * dim + idx[k]) * innerBytes, byteCount: innerBytes)
                }
            }
        }
    }
}

/// Pad in constant, reflect, edge and wrap modes; negative pads crop.
enum PadKernels {
    /// Source index for position i (output index minus begin pad) on an axis of size n; nil = constant.
    @inline(__always) static func source(_ i: Int, _ n: Int, _ mode: PadMode) -> Int? {
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant: return nil
        case .edge: return i < 0 ? 0 : n - 1
        case .wrap: return ((i % n) + n) % n
        case .reflect:
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var j = Swift.abs(i) % period
            if j >= n { j = period - j }
            return j
        }
    }

    static func pad(_ x: TensorView, begin: [Int], mode: PadMode, constant: UnsafeMutableRawPointer?, _ out: TensorView, _ ctx: ExecContext) {
        switch x.dtype.byteSize {
        case 1: pad(x, begin, mode, constant, out, ctx, UInt8.self)
        case 2: pad(x, begin, mode, constant, out, ctx, UInt16.self)
        case 4: pad(x, begin, mode, constant, out, ctx, UInt32.self)
        default: pad(x, begin, mode, constant, out, ctx, UInt64.self)
        }
    }

    static func pad<T>(_ x: TensorView, _ begin: [Int], _ mode: PadMode, _ constant: UnsafeMutableRawPointer?,
                       _ out: TensorView, _ ctx: ExecContext, _: T.Type) {
        let fill: T = constant.map { $0.assumingMemoryBound(to: T.self)[0] } ?? withUnsafeBytes(of: UInt64(0)) { $0.load(as: T.self) }
        let rank = out.shape.count
        guard out.count > 0 else { return }
        if rank == 0 {
            out.pointer(T.self)[0] = x.pointer(T.self)[0]
            return
        }
        let cols = out.shape[rank - 1], n = x.shape[rank - 1], b = begin[rank - 1]
        let rows = out.count / cols
        let xs = Broadcast.contiguousStrides(x.shape)
        let src = x.pointer(T.self), dst = out.pointer(T.self)
        ctx.parallelFor(rows, costPerItem: cols) { range in
            for r in range {
                let o = dst + r * cols
                // Source row of this output row, or nil when it lies in a constant pad.
                var rem = r, off: Int? = 0
                for d in stride(from: rank - 2, through: 0, by: -1) {
                    let i = rem % out.shape[d]
                    rem /= out.shape[d]
                    if let s = source(i - begin[d], x.shape[d], mode), let cur = off { off = cur + s * xs[d] } else { off = nil }
                }
                guard let rowOff = off, n > 0 else {
                    o.update(repeating: fill, count: cols)
                    continue
                }
                let row = src + rowOff
                // Interior run copied directly; the pads element by element.
                let lo = Swift.max(0, b), hi = Swift.min(cols, n + b)
                for c in 0..<Swift.min(lo, cols) { o[c] = source(c - b, n, mode).map { row[$0] } ?? fill }
                if hi > lo { (o + lo).update(from: row + (lo - b), count: hi - lo) }
                for c in Swift.max(hi, lo)..<cols { o[c] = source(c - b, n, mode).map { row[$0] } ?? fill }
            }
        }
    }
}
