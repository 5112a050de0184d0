/// The scalar pooling reference: any spatial rank; also the kernel for ranks other than 2.
enum PoolingKernels {
    /// Pools planes `planes` of x [planes, spatial...] into y [planes, outSpatial...].
    /// Average counts taps inside the input, or with countIncludePad those inside input + end pad
    /// (ONNX Runtime's rule, so ceil-mode overhang past the end pad is not counted).
    static func referencePool(_ g: Convolution.Geometry, isMax: Bool, countIncludePad: Bool,
                              x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, planes: Range<Int>) {
        let nd = g.kernel.count, inSize = g.inSize, outSize = g.outSize, taps = g.kernelSize
        for plane in planes {
            for o in 0..<outSize {
                var oi = [Int](repeating: 0, count: nd)
                var r = o
                for d in stride(from: nd - 1, through: 0, by: -1) { oi[d] = r % g.outSpatial[d]; r /= g.outSpatial[d] }
                var best = -Float.greatestFiniteMagnitude, sum: Float = 0
                var inside = 0, padded = 0
                for t in 0..<taps {
                    var q = t, offset = 0, isInside = true, isPadded = true
                    var ti = [Int](repeating: 0, count: nd)
                    for d in stride(from: nd - 1, through: 0, by: -1) { ti[d] = q % g.kernel[d]; q /= g.kernel[d] }
                    for d in 0..<nd {
                        let pos = oi[d] * g.strides[d] - g.padBegin[d] + ti[d] * g.dilations[d]
                        if pos >= g.inSpatial[d] + g.padEnd[d] { isPadded = false }
                        if pos < 0 || pos >= g.inSpatial[d] { isInside = false }
                        offset = offset * g.inSpatial[d] + pos
                    }
                    if isPadded { padded += 1 }
                    guard isInside else { continue }
                    let v = x[plane * inSize + offset]
                    best = Swift.max(best, v)
                    sum += v
                    inside += 1
                }
                let count = countIncludePad ? padded : inside
                y[plane * outSize + o] = isMax ? best : (count > 0 ? sum / Float(count) : 0)
            }
        }
    }
}
