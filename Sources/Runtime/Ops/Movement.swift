/// Data movement: Transpose, Reshape, Flatten, Concat, Slice, Split, Gather, GatherND, Expand,
/// Unsqueeze, Squeeze, Pad. Values that decide shapes (Reshape's shape, Slice's starts, ...)
/// are read from `ShapeInput.value` at inference and from the input tensors at run time.
enum Movement {
    // MARK: Shared helpers

    static func input(_ inputs: [ShapeInput?], _ i: Int) throws -> ShapeInput {
        guard i < inputs.count, let x = inputs[i] else { throw OpError("input \(i) is missing") }
        return x
    }

    static func input(_ inputs: [TensorView?], _ i: Int) throws -> TensorView {
        guard i < inputs.count, let x = inputs[i] else { throw OpError("input \(i) is missing") }
        return x
    }

    /// The integer values of input i if present and known; throws if present but unknown.
    static func values(_ inputs: [ShapeInput?], _ i: Int, _ what: String) throws -> [Int]? {
        guard i < inputs.count, let x = inputs[i] else { return nil }
        guard let v = x.value else { throw OpError("\(what) (input \(i)) must be known before running") }
        guard let ints = v.integers() else { throw OpError("\(what) (input \(i)) must be integers, got \(v.dtype)") }
        return ints
    }

    static func values(_ inputs: [TensorView?], _ i: Int, _ what: String) throws -> [Int]? {
        guard i < inputs.count, let x = inputs[i] else { return nil }
        return try integers(x, what)
    }

    static func integers(_ x: TensorView, _ what: String) throws -> [Int] {
        let n = x.count
        switch x.dtype {
        case .int64: let p = x.pointer(Int64.self); return (0..<n).map { Int(p[$0]) }
        case .int32: let p = x.pointer(Int32.self); return (0..<n).map { Int(p[$0]) }
        default: throw OpError("\(what) must be int64 or int32, got \(x.dtype)")
        }
    }

    /// Axis in [-rank, rank) made non-negative.
    static func normalizeAxis(_ axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
        guard axis >= -rank && axis < rank else { throw OpError("\(what) \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    static func normalizeAxes(_ axes: [Int], rank: Int) throws -> [Int] {
        let r = try axes.map { try normalizeAxis($0, rank: rank) }
        guard Set(r).count == r.count else { throw OpError("axes \(axes) repeat an axis") }
        return r
    }

    // MARK: Shape rules (shared by infer and run)

    static func transposePerm(_ perm: [Int]?, rank: Int) throws -> [Int] {
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, p.sorted() == Array(0..<rank) else { throw OpError("perm \(p) is not a permutation of rank \(rank)") }
        return p
    }

    static func reshapeShape(_ input: [Int], _ spec: [Int], allowZero: Bool) throws -> [Int] {
        var out = spec
        var inferred: Int? = nil
        for (i, d) in spec.enumerated() {
            if d == -1 {
                guard inferred == nil else { throw OpError("shape \(spec) has more than one -1") }
                inferred = i
            } else if d == 0 && !allowZero {
                guard i < input.count else { throw OpError("shape \(spec) copies dim \(i) that input \(input) lacks") }
                out[i] = input[i]
            } else if d < 0 {
                throw OpError("shape \(spec) has a negative dim \(d)")
            }
        }
        let total = Tensor.elementCount(input)
        if let k = inferred {
            var known = 1
            for (i, d) in out.enumerated() where i != k { known *= d }
            guard known > 0, total % known == 0 else { throw OpError("cannot reshape \(input) (\(total) elements) to \(spec)") }
            out[k] = total / known
        }
        guard Tensor.checkedElementCount(out) == total else {
            throw OpError("cannot reshape \(input) (\(total) elements) to \(spec)")
        }
        return out
    }

    /// Slice parameters per axis of `shape`: first index, step and count.
    static func sliceParams(_ shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?)
        throws -> (start: [Int], step: [Int], count: [Int]) {
        let rank = shape.count
        guard starts.count == ends.count else { throw OpError("starts has \(starts.count) entries, ends \(ends.count)") }
        let ax = try normalizeAxes(axes ?? Array(0..<starts.count), rank: rank)
        guard ax.count == starts.count else { throw OpError("axes has \(ax.count) entries, starts \(starts.count)") }
        let st = steps ?? [Int](repeating: 1, count: starts.count)
        guard st.count == starts.count else { throw OpError("steps has \(st.count) entries, starts \(starts.count)") }
        var start = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank), count = shape
        for (k, a) in ax.enumerated() {
            let dim = shape[a], s = st[k]
            guard s != 0 else { throw OpError("slice step is 0 on axis \(a)") }
            var b = starts[k], e = ends[k]
            if b < 0 { b += dim }
            if e < 0 { e += dim }
            if s > 0 {
                b = Swift.min(Swift.max(b, 0), dim)
                e = Swift.min(Swift.max(e, 0), dim)
                count[a] = e > b ? (e - b + s - 1) / s : 0
            } else {
                b = Swift.min(Swift.max(b, 0), dim - 1)
                e = Swift.min(Swift.max(e, -1), dim - 1)
                count[a] = b > e ? (b - e + (-s) - 1) / (-s) : 0
            }
            start[a] = Swift.max(b, 0)
            step[a] = s
        }
        return (start, step, count)
    }

    static func splitSizes(_ dim: Int, sizes: [Int]?, numOutputs: Int?) throws -> [Int] {
        if let sizes {
            guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
                throw OpError("split sizes \(sizes) do not add up to dim \(dim)")
            }
            return sizes
        }
        guard let n = numOutputs, n > 0 else { throw OpError("Split needs a sizes input or a number of outputs") }
        // Opset 18: equal parts of ceil(dim / n), the last one smaller.
        let part = (dim + n - 1) / n
        var out: [Int] = []
        var left = dim
        for _ in 0..<n {
            let s = Swift.min(part, left)
            out.append(s)
            left -= s
        }
        return out
    }

    static func unsqueezeShape(_ shape: [Int], axes: [Int]) throws -> [Int] {
        let rank = shape.count + axes.count
        let ax = Set(try normalizeAxes(axes, rank: rank))
        var out: [Int] = []
        var it = shape.makeIterator()
        for d in 0..<rank { out.append(ax.contains(d) ? 1 : it.next()!) }
        return out
    }

    static func squeezeShape(_ shape: [Int], axes: [Int]?) throws -> [Int] {
        guard let axes else { return shape.filter { $0 != 1 } }
        let ax = Set(try normalizeAxes(axes, rank: shape.count))
        for a in ax where shape[a] != 1 { throw OpError("cannot squeeze axis \(a) of size \(shape[a]) in \(shape)") }
        return shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
    }

    static func gatherShape(_ data: [Int], _ indices: [Int], axis: Int) throws -> (Int, [Int]) {
        let a = try normalizeAxis(axis, rank: data.count)
        return (a, Array(data[..<a]) + indices + Array(data[(a + 1)...]))
    }

    static func gatherNDShape(_ data: [Int], _ indices: [Int], batchDims b: Int) throws -> [Int] {
        guard let k = indices.last, !indices.isEmpty else { throw OpError("GatherND indices must have rank >= 1") }
        guard b >= 0, b < Swift.min(data.count, indices.count) else { throw OpError("batch_dims \(b) is out of range") }
        guard Array(data[..<b]) == Array(indices[..<b]) else { throw OpError("batch dims of data \(data) and indices \(indices) differ") }
        guard k >= 1, b + k <= data.count else { throw OpError("indices last dim \(k) too large for data rank \(data.count)") }
        return Array(indices.dropLast()) + Array(data[(b + k)...])
    }

    /// Pads per axis (begin, end) over all rank axes.
    static func padAmounts(_ rank: Int, pads: [Int], axes: [Int]?) throws -> ([Int], [Int]) {
        let ax = try normalizeAxes(axes ?? Array(0..<rank), rank: rank)
        guard pads.count == 2 * ax.count else { throw OpError("pads has \(pads.count) entries, expected \(2 * ax.count)") }
        var begin = [Int](repeating: 0, count: rank), end = begin
        for (k, a) in ax.enumerated() {
            begin[a] = pads[k]
            end[a] = pads[k + ax.count]
        }
        return (begin, end)
    }

    // MARK: Inference

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        let x = try input(inputs, 0)
        switch op {
        case .transpose(let perm):
            let p = try transposePerm(perm, rank: x.shape.count)
            return [TypedShape(x.dtype, p.map { x.shape[$0] })]
        case .reshape(let allowZero):
            guard let spec = try values(inputs, 1, "shape") else { throw OpError("shape input is missing") }
            return [TypedShape(x.dtype, try reshapeShape(x.shape, spec, allowZero: allowZero))]
        case .flatten(let axis):
            let r = x.shape.count
            guard axis >= -r && axis <= r else { throw OpError("axis \(axis) is out of range for rank \(r)") }
            let a = axis < 0 ? axis + r : axis
            return [TypedShape(x.dtype, [Tensor.elementCount(Array(x.shape[..<a])), Tensor.elementCount(Array(x.shape[a...]))])]
        case .concat(let axis):
            let xs = inputs.compactMap { $0 }
            guard xs.count == inputs.count else { throw OpError("an input is missing") }
            let a = try normalizeAxis(axis, rank: x.shape.count)
            var shape = x.shape
            shape[a] = 0
            for t in xs {
                guard t.dtype == x.dtype else { throw OpError("inputs have types \(x.dtype) and \(t.dtype)") }
                guard t.shape.count == x.shape.count,
                      t.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == x.shape[$0.offset] }) else {
                    throw OpError("shapes \(x.shape) and \(t.shape) differ off axis \(a)")
                }
                shape[a] += t.shape[a]
            }
            return [TypedShape(x.dtype, shape)]
        case .slice:
            guard let starts = try values(inputs, 1, "starts"), let ends = try values(inputs, 2, "ends") else {
                throw OpError("starts and ends are required")
            }
            let p = try sliceParams(x.shape, starts: starts, ends: ends, axes: try values(inputs, 3, "axes"),
                                    steps: try values(inputs, 4, "steps"))
            return [TypedShape(x.dtype, p.count)]
        case .split(let axis, let numOutputs):
            let a = try normalizeAxis(axis, rank: x.shape.count)
            let sizes = try splitSizes(x.shape[a], sizes: try values(inputs, 1, "split"), numOutputs: numOutputs)
            return sizes.map { s in
                var shape = x.shape
                shape[a] = s
                return TypedShape(x.dtype, shape)
            }
        case .gather(let axis):
            let idx = try input(inputs, 1)
            guard idx.dtype == .int64 || idx.dtype == .int32 else { throw OpError("indices must be int64 or int32, got \(idx.dtype)") }
            return [TypedShape(x.dtype, try gatherShape(x.shape, idx.shape, axis: axis).1)]
        case .gatherND(let b):
            let idx = try input(inputs, 1)
            guard idx.dtype == .int64 else { throw OpError("indices must be int64, got \(idx.dtype)") }
            return [TypedShape(x.dtype, try gatherNDShape(x.shape, idx.shape, batchDims: b))]
        case .expand:
            guard let shape = try values(inputs, 1, "shape") else { throw OpError("shape input is missing") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw OpError("shape \(shape) has a negative dim") }
            return [TypedShape(x.dtype, try Broadcast.shape(x.shape, shape))]
        case .unsqueeze:
            guard let axes = try values(inputs, 1, "axes") else { throw OpError("axes input is missing") }
            return [TypedShape(x.dtype, try unsqueezeShape(x.shape, axes: axes))]
        case .squeeze:
            return [TypedShape(x.dtype, try squeezeShape(x.shape, axes: try values(inputs, 1, "axes")))]
        case .pad(let mode):
            guard let pads = try values(inputs, 1, "pads") else { throw OpError("pads input is missing") }
            let (b, e) = try padAmounts(x.shape.count, pads: pads, axes: try values(inputs, 3, "axes"))
            var shape = x.shape
            for d in 0..<shape.count {
                shape[d] += b[d] + e[d]
                guard shape[d] >= 0 else { throw OpError("pads \(pads) remove more than axis \(d) holds") }
                if mode != .constant && x.shape[d] == 0 && shape[d] > 0 { throw OpError("cannot \(mode)-pad an empty axis \(d)") }
            }
            return [TypedShape(x.dtype, shape)]
        default:
            throw OpError("\(op.typeName) is not a movement op")
        }
    }

    // MARK: Run

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        let x = try input(inputs, 0)
        guard let out = outputs.first else { throw OpError("no output") }
        switch op {
        case .reshape, .flatten, .unsqueeze, .squeeze:
            guard out.count == x.count else { throw OpError("output has \(out.count) elements, input \(x.count)") }
            ElementwiseKernels.copyIfNeeded(x, out)
        case .transpose(let perm):
            let p = try transposePerm(perm, rank: x.shape.count)
            MovementKernels.transpose(x, perm: p, out, ctx)
        case .concat(let axis):
            let xs = try (0..<inputs.count).map { try input(inputs, $0) }
            MovementKernels.concat(xs, axis: try normalizeAxis(axis, rank: x.shape.count), out, ctx)
        case .slice:
            guard let starts = try values(inputs, 1, "starts"), let ends = try values(inputs, 2, "ends") else {
                throw OpError("starts and ends are required")
            }
            let p = try sliceParams(x.shape, starts: starts, ends: ends, axes: try values(inputs, 3, "axes"),
                                    steps: try values(inputs, 4, "steps"))
            guard p.count == out.shape else { throw OpError("output shape \(out.shape) is not the slice's \(p.count)") }
            guard out.count > 0 else { return }
            let xs = Broadcast.contiguousStrides(x.shape)
            var base = 0
            for d in 0..<xs.count { base += p.start[d] * xs[d] }
            MovementKernels.stridedCopy(x, baseOffset: base, strides: (0..<xs.count).map { xs[$0] * p.step[$0] }, out, ctx)
        case .split(let axis, _):
            let a = try normalizeAxis(axis, rank: x.shape.count)
            let outer = Tensor.elementCount(Array(x.shape[..<a]))
            let unit = Tensor.elementCount(Array(x.shape[(a + 1)...])) * x.dtype.byteSize
            let rowBytes = x.shape[a] * unit
            var at = 0
            for o in outputs {
                let bytes = o.shape[a] * unit
                let base = at
                ctx.parallelFor(outer, costPerItem: Swift.max(1, bytes / 4)) { r in
                    for i in r { (o.data + i * bytes).copyMemory(from: x.data + i * rowBytes + base, byteCount: bytes) }
                }
                at += bytes
            }
        case .gather(let axis):
            let idxView = try input(inputs, 1)
            let (a, _) = try gatherShape(x.shape, idxView.shape, axis: axis)
            let dim = x.shape[a]
            var idx = try integers(idxView, "indices")
            for k in 0..<idx.count {
                let i = idx[k]
                guard i >= -dim && i < dim else { throw OpError("index \(i) is out of range for axis \(a) of size \(dim)") }
                if i < 0 { idx[k] = i + dim }
            }
            MovementKernels.gather(x, axis: a, indices: idx, out, ctx)
        case .gatherND(let b):
            try gatherND(x, try input(inputs, 1), batchDims: b, out)
        case .expand:
            try Elementwise.broadcastCopy(x, out, ctx)
        case .pad(let mode):
            guard let pads = try values(inputs, 1, "pads") else { throw OpError("pads input is missing") }
            let (b, _) = try padAmounts(x.shape.count, pads: pads, axes: try values(inputs, 3, "axes"))
            let value: TensorView? = inputs.count > 2 ? inputs[2] : nil
            if let value, value.dtype != x.dtype { throw OpError("constant value has type \(value.dtype), data \(x.dtype)") }
            PadKernels.pad(x, begin: b, mode: mode, constant: value?.data, out, ctx)
        default:
            throw OpError("\(op.typeName) is not a movement op")
        }
    }

    static func gatherND(_ x: TensorView, _ idx: TensorView, batchDims b: Int, _ out: TensorView) throws {
        _ = try gatherNDShape(x.shape, idx.shape, batchDims: b)
        let k = idx.shape.last!
        let batch = Tensor.elementCount(Array(x.shape[..<b]))
        let perBatch = Tensor.elementCount(Array(idx.shape[b..<(idx.shape.count - 1)]))
        let sliceElems = Tensor.elementCount(Array(x.shape[(b + k)...]))
        let sliceBytes = sliceElems * x.dtype.byteSize
        let xStrides = Broadcast.contiguousStrides(x.shape)
        let batchStride = b > 0 ? xStrides[b - 1] : 0
        let ip = idx.pointer(Int64.self)
        var dst = out.data
        for bi in 0..<batch {
            for j in 0..<perBatch {
                let row = ip + (bi * perBatch + j) * k
                var off = bi * batchStride
                for d in 0..<k {
                    let dim = x.shape[b + d]
                    var i = Int(row[d])
                    guard i >= -dim && i < dim else { throw OpError("index \(i) is out of range for axis \(b + d) of size \(dim)") }
                    if i < 0 { i += dim }
                    off += i * xStrides[b + d]
                }
                dst.copyMemory(from: x.data + off * x.dtype.byteSize, byteCount: sliceBytes)
                dst += sliceBytes
            }
        }
    }
}
