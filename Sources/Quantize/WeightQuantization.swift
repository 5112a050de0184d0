import Runtime

/// Symmetric int8 quantization of float weights, one scale per slice along an axis.
public enum WeightQuantization {
    /// `weight` (float32) as int8 with per-channel scales along `axis` (nil: one scale for the
    /// tensor); scale = max |w| / 127 over the channel, 1 for an all-zero channel. The returned
    /// tensor carries the scales in its `quant` (zero points 0).
    public static func int8(_ weight: Tensor, axis: Int?) -> Tensor {
        precondition(weight.dtype == .float32, "weight must be float32")
        let values = weight.scalars(as: Float.self)
        let channels = axis.map { weight.shape[$0] } ?? 1
        let inner = axis.map { Tensor.elementCount(Array(weight.shape[($0 + 1)...])) } ?? Swift.max(values.count, 1)
        var maxAbs = [Float](repeating: 0, count: channels)
        for (i, v) in values.enumerated() where v.isFinite {
            let c = (i / inner) % channels
            maxAbs[c] = Swift.max(maxAbs[c], Swift.abs(v))
        }
        let scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        var q = [Int8](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() {
            let c = (i / inner) % channels
            let r = v.isFinite ? (v / scales[c]).rounded() : (v > 0 ? 127 : -127)
            q[i] = Int8(Swift.min(127, Swift.max(-127, r)))
        }
        var t = Tensor(dtype: .int8, shape: weight.shape, scalars: q)
        t.quant = QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: channels), axis: axis)
        return t
    }

    /// The float values an int8 tensor with per-channel `quant` stands for.
    public static func dequantized(_ t: Tensor) -> [Float] {
        let q = t.scalars(as: Int8.self)
        guard let p = t.quant else { return q.map { Float($0) } }
        let channels = p.scales.count
        let inner = p.axis.map { Tensor.elementCount(Array(t.shape[($0 + 1)...])) } ?? Swift.max(q.count, 1)
        return q.enumerated().map { i, v in Float(v) * p.scales[(i / inner) % channels] }
    }

    /// A float32 [rows, cols] matrix transposed to [cols, rows].
    static func transposed(_ t: Tensor) -> Tensor {
        let r = t.shape[0], c = t.shape[1]
        let v = t.scalars(as: Float.self)
        var out = [Float](repeating: 0, count: v.count)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = v[i * c + j] } }
        return .float32(out, shape: [c, r])
    }
}
