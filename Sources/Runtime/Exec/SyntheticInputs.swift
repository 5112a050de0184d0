import Glibc

/// Plausible inputs for a graph, for benchmarks and smoke runs: token ids shaped like CLIP's
/// (start token, a few words, end token, zeros), unit-norm text features, and a normal-ish image.
public enum SyntheticInputs {
    public static let startToken: Int64 = 49406
    public static let endToken: Int64 = 49407

    /// Resolves each input's shape: rank-4 float inputs take `height` x `width` for their last two
    /// dims; every other symbolic dim is the label count.
    public static func shapes(for graph: Graph, labels: Int, height: Int, width: Int) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for i in graph.inputs {
            let dims = i.shape ?? []
            var shape: [Int] = []
            for (k, d) in dims.enumerated() {
                switch d {
                case .fixed(let v): shape.append(v)
                case .symbol:
                    if dims.count == 4 && i.dtype.isFloat && k >= 2 { shape.append(k == 2 ? height : width) }
                    else if dims.count == 4 && k == 0 { shape.append(1) }
                    else { shape.append(labels) }
                }
            }
            out[i.name] = shape
        }
        return out
    }

    public static func make(for graph: Graph, shapes: [String: [Int]], seed: UInt64 = 1) -> [String: Tensor] {
        var state = seed
        func next() -> Float {   // SplitMix64 -> uniform [0, 1)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
        }
        var out: [String: Tensor] = [:]
        for i in graph.inputs {
            let shape = shapes[i.name] ?? []
            let n = Tensor.elementCount(shape)
            switch i.dtype {
            case .int64, .int32:
                let rows = shape.count >= 2 ? shape[0] : 1
                let cols = shape.last ?? n
                var ids = [Int64](repeating: 0, count: n)
                for r in 0..<rows where cols >= 2 {
                    let words = 1 + r % min(6, cols - 2)
                    ids[r * cols] = startToken
                    for w in 1...words { ids[r * cols + w] = Int64(300 + Int(next() * 40000)) }
                    ids[r * cols + words + 1] = endToken
                }
                out[i.name] = i.dtype == .int64 ? .int64(ids, shape: shape)
                    : Tensor(dtype: .int32, shape: shape, scalars: ids.map { Int32($0) })
            case .float32:
                var v = (0..<n).map { _ in next() * 2 - 1 }
                if shape.count == 2 {   // rows of text features: unit norm
                    let c = shape[1]
                    for r in 0..<shape[0] {
                        var s: Float = 0
                        for k in 0..<c { s += v[r * c + k] * v[r * c + k] }
                        let inv = 1 / max(s.squareRoot(), 1e-6)
                        for k in 0..<c { v[r * c + k] *= inv }
                    }
                }
                out[i.name] = .float32(v, shape: shape)
            default:
                out[i.name] = Tensor(dtype: i.dtype, shape: shape)
            }
        }
        return out
    }
}
