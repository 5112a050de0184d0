/// Linear (de)quantization: q = saturate(round_half_even(x / scale) + zp), x = (q - zp) * scale.
enum QuantizationKernels {
    @inline(__always) static func quantizeOne(_ v: Float, _ scale: Float, _ zp: Int32, _ lo: Float, _ hi: Float) -> Int32 {
        let q = (v / scale).rounded(.toNearestOrEven) + Float(zp)
        if q.isNaN { return zp }
        return Int32(Swift.min(Swift.max(q, lo), hi))
    }

    static func quantize(_ x: TensorView, scales: [Float], zeroPoints: [Int32], inner: Int, _ out: TensorView, _ ctx: ExecContext) throws {
        let c = scales.count
        let signed = out.dtype == .int8
        let lo: Float = signed ? -128 : 0, hi: Float = signed ? 127 : 255
        guard out.dtype == .int8 || out.dtype == .uint8 else { throw OpError("output type \(out.dtype) is not int8 or uint8") }
        let q = out.pointer(UInt8.self)
        ctx.parallelFor(x.count, costPerItem: 4) { r in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: ElementwiseKernels.chunk) { buf in
                let f = buf.baseAddress!
                var i = r.lowerBound
                while i < r.upperBound {
                    let m = Swift.min(ElementwiseKernels.chunk, r.upperBound - i)
                    if x.dtype == .float32 {
                        f.update(from: x.pointer(Float.self) + i, count: m)
                    } else {
                        Float16Conversion.toFloat(x.pointer(UInt16.self) + i, f, count: m)
                    }
                    for j in 0..<m {
                        let ch = c == 1 ? 0 : ((i + j) / inner) % c
                        q[i + j] = UInt8(truncatingIfNeeded: quantizeOne(f[j], scales[ch], zeroPoints[ch], lo, hi))
                    }
                    i += m
                }
            }
        }
    }

    static func dequantize(_ x: TensorView, scales: [Float], zeroPoints: [Int32], inner: Int, _ out: TensorView, _ ctx: ExecContext) throws {
        let c = scales.count
        func value(_ i: Int) -> Int32 {
            switch x.dtype {
            case .int8: return Int32(x.pointer(Int8.self)[i])
            case .uint8: return Int32(x.pointer(UInt8.self)[i])
            default: return x.pointer(Int32.self)[i]
            }
        }
        ctx.parallelFor(x.count, costPerItem: 4) { r in
            for i in r {
                let ch = c == 1 ? 0 : (i / inner) % c
                let v = Float(Int64(value(i)) - Int64(zeroPoints[ch])) * scales[ch]
                if out.dtype == .float32 {
                    out.pointer(Float.self)[i] = v
                } else {
                    out.pointer(UInt16.self)[i] = Float16Conversion.bits(from: v)
                }
            }
        }
    }
}
