/// Cast between every numeric dtype, as ONNX Runtime does it: float to integer truncates toward
/// zero (then wraps to the target width, as C's conversion through a wide integer), anything to
/// bool is x != 0, integers to integers wrap.
enum CastKernels {
    static let chunk = 256

    static func cast(_ x: TensorView, _ y: TensorView, _ ctx: ExecContext) {
        let n = x.count
        if x.dtype == y.dtype {
            ElementwiseKernels.copyIfNeeded(x, y)
            return
        }
        if x.dtype == .float32 && y.dtype == .float16 {
            let px = x.pointer(Float.self), py = y.pointer(UInt16.self)
            ctx.parallelFor(n) { r in Float16Conversion.toHalf(px + r.lowerBound, py + r.lowerBound, count: r.count) }
            return
        }
        if x.dtype == .float16 && y.dtype == .float32 {
            let px = x.pointer(UInt16.self), py = y.pointer(Float.self)
            ctx.parallelFor(n) { r in Float16Conversion.toFloat(px + r.lowerBound, py + r.lowerBound, count: r.count) }
            return
        }
        let integral = !x.dtype.isFloat && !y.dtype.isFloat
        ctx.parallelFor(n, costPerItem: 4) { r in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: chunk) { dbuf in
                withUnsafeTemporaryAllocation(of: Int64.self, capacity: chunk) { ibuf in
                    var i = r.lowerBound
                    while i < r.upperBound {
                        let m = Swift.min(chunk, r.upperBound - i)
                        if integral {
                            loadIntegers(x, i, m, ibuf.baseAddress!)
                            storeIntegers(ibuf.baseAddress!, y, i, m)
                        } else {
                            loadDoubles(x, i, m, dbuf.baseAddress!)
                            storeDoubles(dbuf.baseAddress!, y, i, m)
                        }
                        i += m
                    }
                }
            }
        }
    }

    static func loadIntegers(_ v: TensorView, _ start: Int, _ m: Int, _ d: UnsafeMutablePointer<Int64>) {
        func load<T: BinaryInteger>(_: T.Type) {
            let p = v.pointer(T.self) + start
            for i in 0..<m { d[i] = Int64(truncatingIfNeeded: p[i]) }
        }
        switch v.dtype {
        case .int64: load(Int64.self)
        case .int32: load(Int32.self)
        case .int16: load(Int16.self)
        case .int8: load(Int8.self)
        case .uint64: load(UInt64.self)
        case .uint32: load(UInt32.self)
        case .uint16: load(UInt16.self)
        case .uint8: load(UInt8.self)
        case .bool:
            let p = v.pointer(UInt8.self) + start
            for i in 0..<m { d[i] = p[i] != 0 ? 1 : 0 }
        case .float32, .float16, .float64, .bfloat16: break
        }
    }

    static func storeIntegers(_ s: UnsafePointer<Int64>, _ v: TensorView, _ start: Int, _ m: Int) {
        func store<T: FixedWidthInteger>(_: T.Type) {
            let p = v.pointer(T.self) + start
            for i in 0..<m { p[i] = T(truncatingIfNeeded: s[i]) }
        }
        switch v.dtype {
        case .int64: store(Int64.self)
        case .int32: store(Int32.self)
        case .int16: store(Int16.self)
        case .int8: store(Int8.self)
        case .uint64: store(UInt64.self)
        case .uint32: store(UInt32.self)
        case .uint16: store(UInt16.self)
        case .uint8: store(UInt8.self)
        case .bool:
            let p = v.pointer(UInt8.self) + start
            for i in 0..<m { p[i] = s[i] != 0 ? 1 : 0 }
        case .float32, .float16, .float64, .bfloat16: break
        }
    }

    static func loadDoubles(_ v: TensorView, _ start: Int, _ m: Int, _ d: UnsafeMutablePointer<Double>) {
        func load<T: BinaryInteger>(_: T.Type) {
            let p = v.pointer(T.self) + start
            for i in 0..<m { d[i] = Double(p[i]) }
        }
        switch v.dtype {
        case .float32:
            let p = v.pointer(Float.self) + start
            for i in 0..<m { d[i] = Double(p[i]) }
        case .float64:
            let p = v.pointer(Double.self) + start
            for i in 0..<m { d[i] = p[i] }
        case .float16:
            let p = v.pointer(UInt16.self) + start
            for i in 0..<m { d[i] = Double(Float16Conversion.float(fromBits: p[i])) }
        case .bfloat16:
            let p = v.pointer(UInt16.self) + start
            for i in 0..<m { d[i] = Double(Float(bitPattern: UInt32(p[i]) << 16)) }
        case .int64: load(Int64.self)
        case .int32: load(Int32.self)
        case .int16: load(Int16.self)
        case .int8: load(Int8.self)
        case .uint64: load(UInt64.self)
        case .uint32: load(UInt32.self)
        case .uint16: load(UInt16.self)
        case .uint8: load(UInt8.self)
        case .bool:
            let p = v.pointer(UInt8.self) + start
            for i in 0..<m { d[i] = p[i] != 0 ? 1 : 0 }
        }
    }

    /// Truncation toward zero that never traps: NaN -> 0, out of range saturates at Int64's ends.
    @inline(__always) static func truncated(_ x: Double) -> Int64 {
        if x.isNaN { return 0 }
        if x >= 9.2233720368547758e18 { return Int64.max }
        if x <= -9.2233720368547758e18 { return Int64.min }
        return Int64(x.rounded(.towardZero))
    }

    static func storeDoubles(_ s: UnsafePointer<Double>, _ v: TensorView, _ start: Int, _ m: Int) {
        func store<T: FixedWidthInteger>(_: T.Type) {
            let p = v.pointer(T.self) + start
            for i in 0..<m { p[i] = T(truncatingIfNeeded: truncated(s[i])) }
        }
        switch v.dtype {
        case .float32:
            let p = v.pointer(Float.self) + start
            for i in 0..<m { p[i] = Float(s[i]) }
        case .float64:
            let p = v.pointer(Double.self) + start
            for i in 0..<m { p[i] = s[i] }
        case .float16:
            let p = v.pointer(UInt16.self) + start
            for i in 0..<m { p[i] = Float16Conversion.bits(from: Float(s[i])) }
        case .bfloat16:
            let p = v.pointer(UInt16.self) + start
            for i in 0..<m { p[i] = bfloat16Bits(Float(s[i])) }
        case .int64: store(Int64.self)
        case .int32: store(Int32.self)
        case .int16: store(Int16.self)
        case .int8: store(Int8.self)
        case .uint64:
            let p = v.pointer(UInt64.self) + start
            for i in 0..<m {
                let x = s[i]
                p[i] = x >= 9.2233720368547758e18 && x < 1.8446744073709552e19 ? UInt64(x) : UInt64(truncatingIfNeeded: truncated(x))
            }
        case .uint32: store(UInt32.self)
        case .uint16: store(UInt16.self)
        case .uint8: store(UInt8.self)
        case .bool:
            let p = v.pointer(UInt8.self) + start
            for i in 0..<m { p[i] = s[i] != 0 ? 1 : 0 }
        }
    }

    /// float32 -> bfloat16 bits, round to nearest even (NaN kept quiet).
    @inline(__always) static func bfloat16Bits(_ f: Float) -> UInt16 {
        if f.isNaN { return 0x7FC0 }
        let b = f.bitPattern
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
