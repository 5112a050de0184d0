import CKernels

/// IEEE half <-> float32 conversions used everywhere in the runtime (round to nearest even;
/// F16C on x86 when available). Half values travel as their bit patterns (`UInt16`).
public enum Float16Conversion {
    @inline(__always) public static func float(fromBits h: UInt16) -> Float { lseg_f16_to_f32_one(h) }
    @inline(__always) public static func bits(from f: Float) -> UInt16 { lseg_f32_to_f16_one(f) }

    /// Widens `count` halves at `src` into `dst`.
    public static func toFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        if count > 0 { lseg_f16_to_f32(src, dst, count) }
    }

    /// Narrows `count` floats at `src` into halves at `dst`.
    public static func toHalf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        if count > 0 { lseg_f32_to_f16(src, dst, count) }
    }

    /// Array forms, for tests and small tensors.
    public static func toFloat(_ halves: [UInt16]) -> [Float] {
        [Float](unsafeUninitializedCapacity: halves.count) { buf, n in
            halves.withUnsafeBufferPointer { toFloat($0.baseAddress!, buf.baseAddress!, count: halves.count) }
            n = halves.count
        }
    }

    public static func toHalf(_ floats: [Float]) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: floats.count) { buf, n in
            floats.withUnsafeBufferPointer { toHalf($0.baseAddress!, buf.baseAddress!, count: floats.count) }
            n = floats.count
        }
    }
}
