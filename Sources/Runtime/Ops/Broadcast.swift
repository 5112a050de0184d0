/// Numpy multidirectional broadcasting: result shapes, per-operand element strides over the
/// result, and a walker that visits the result in contiguous runs of the innermost dimension.
public enum Broadcast {
    /// The broadcast shape of `shapes` (right-aligned; each dim equal or 1).
    public static func shape(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let off = rank - s.count
            for (i, d) in s.enumerated() {
                let o = out[off + i]
                if d == o || d == 1 { continue }
                if o == 1 { out[off + i] = d; continue }
                throw OpError("shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) do not broadcast (dim \(o) vs \(d))")
            }
        }
        return out
    }

    public static func shape(_ a: [Int], _ b: [Int]) throws -> [Int] { try shape([a, b]) }

    /// Row-major element strides of a dense `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// Element strides of a dense tensor of `shape` read as if it had shape `out` (which it
    /// broadcasts to): 0 on broadcast dims; result has out.count entries.
    public static func strides(_ shape: [Int], to out: [Int]) -> [Int] {
        let own = contiguousStrides(shape)
        let off = out.count - shape.count
        var result = [Int](repeating: 0, count: out.count)
        for i in 0..<shape.count where shape[i] != 1 { result[off + i] = own[i] }
        return result
    }
}

/// Visits a result of shape `dims` in runs along the innermost dimension, with up to three
/// operands addressed by their own element strides (any sign). Adjacent dims that every operand
/// walks contiguously are merged first, so same-shape or trailing-broadcast cases become one or
/// two long runs.
public struct StridedWalk {
    public private(set) var dims: [Int]
    /// strides[k][d]: operand k's element stride along dim d. Operand 0 is usually the output.
    public private(set) var strides: [[Int]]
    public let count: Int

    public init(dims: [Int], strides: [[Int]]) {
        precondition(strides.count >= 1 && strides.count <= 4 && strides.allSatisfy { $0.count == dims.count })
        count = Tensor.elementCount(dims)
        // Drop size-1 dims, then merge d into d+1 where every operand satisfies s[d] == s[d+1] * dims[d+1].
        var keptDims: [Int] = []
        var keptStrides = [[Int]](repeating: [], count: strides.count)
        for d in 0..<dims.count where dims[d] != 1 {
            keptDims.append(dims[d])
            for k in 0..<strides.count { keptStrides[k].append(strides[k][d]) }
        }
        var mDims: [Int] = []
        var mStrides = [[Int]](repeating: [], count: strides.count)
        for d in 0..<keptDims.count {
            if let last = mDims.indices.last,
               (0..<strides.count).allSatisfy({ mStrides[$0][last] == keptStrides[$0][d] * keptDims[d] }) {
                mDims[last] *= keptDims[d]
                for k in 0..<strides.count { mStrides[k][last] = keptStrides[k][d] }
            } else {
                mDims.append(keptDims[d])
                for k in 0..<strides.count { mStrides[k].append(keptStrides[k][d]) }
            }
        }
        if mDims.isEmpty {
            mDims = [1]
            for k in 0..<strides.count { mStrides[k] = [0] }
        }
        self.dims = mDims
        self.strides = mStrides
    }

    /// Stride of operand k along the innermost (run) dimension.
    public func innerStride(_ k: Int) -> Int { strides[k][dims.count - 1] }

    /// Calls body(offsets, runLength) for every run covering result elements [range), in order;
    /// offsets[k] is operand k's element offset at the start of the run.
    public func forEachRun(_ range: Range<Int>, _ body: (UnsafePointer<Int>, Int) -> Void) {
        guard !range.isEmpty else { return }
        let rank = dims.count, ops = strides.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank + ops) { buf in
            let idx = buf.baseAddress!, off = idx + rank
            // Decompose the start position into an index.
            var rem = range.lowerBound
            for d in stride(from: rank - 1, through: 0, by: -1) {
                idx[d] = rem % dims[d]
                rem /= dims[d]
            }
            for k in 0..<ops {
                var o = 0
                for d in 0..<rank { o += idx[d] * strides[k][d] }
                off[k] = o
            }
            var pos = range.lowerBound
            let inner = dims[rank - 1]
            while pos < range.upperBound {
                let len = Swift.min(inner - idx[rank - 1], range.upperBound - pos)
                body(UnsafePointer(off), len)
                pos += len
                if pos >= range.upperBound { break }
                // Advance: step the inner index by len, carrying into outer dims.
                idx[rank - 1] += len
                for k in 0..<ops { off[k] += len * strides[k][rank - 1] }
                var d = rank - 1
                while d > 0 && idx[d] == dims[d] {
                    for k in 0..<ops { off[k] -= dims[d] * strides[k][d] - strides[k][d - 1] }
                    idx[d] = 0
                    idx[d - 1] += 1
                    d -= 1
                }
            }
        }
    }
}
