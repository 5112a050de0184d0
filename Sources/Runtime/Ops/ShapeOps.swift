import Glibc

/// Range, ConstantOfShape and Shape: ops whose outputs are made from shapes and scalars.
enum ShapeOps {
    static func scalar(_ x: ShapeInput?, _ name: String) throws -> Double {
        guard let x else { throw OpError("\(name) is missing") }
        guard let v = x.value else { throw OpError("\(name) must be known before running") }
        guard v.count == 1 else { throw OpError("\(name) must be a scalar, has shape \(v.shape)") }
        return try scalar(TensorView(v), name)
    }

    static func scalar(_ v: TensorView, _ name: String) throws -> Double {
        switch v.dtype {
        case .float32: return Double(v.pointer(Float.self)[0])
        case .float64: return v.pointer(Double.self)[0]
        case .float16: return Double(Float16Conversion.float(fromBits: v.pointer(UInt16.self)[0]))
        case .int64: return Double(v.pointer(Int64.self)[0])
        case .int32: return Double(v.pointer(Int32.self)[0])
        case .int16: return Double(v.pointer(Int16.self)[0])
        default: throw OpError("\(name) has unsupported type \(v.dtype)")
        }
    }

    /// Range's element count: max(ceil((limit - start) / delta), 0).
    static func rangeCount(_ start: Double, _ limit: Double, _ delta: Double) throws -> Int {
        guard delta != 0 else { throw OpError("Range delta is 0") }
        let n = ((limit - start) / delta).rounded(.up)
        guard n.isFinite, n < Double(Int32.max) * 16 else { throw OpError("Range of \(start)..<\(limit) step \(delta) is too long") }
        return Swift.max(Int(n), 0)
    }

    /// Shape's [start, end) after ONNX's negative-index and clamping rules.
    static func shapeBounds(rank: Int, start: Int, end: Int?) -> (Int, Int) {
        func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + rank : v, 0), rank) }
        let s = clamp(start), e = clamp(end ?? rank)
        return (s, Swift.max(s, e))
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        switch op {
        case .range:
            guard inputs.count == 3, let t = inputs[0] else { throw OpError("needs start, limit and delta") }
            for i in 1..<3 where inputs[i]?.dtype != t.dtype { throw OpError("start, limit and delta must share a type") }
            guard [.float32, .int64, .int32, .float64, .int16].contains(t.dtype) else { throw OpError("type \(t.dtype) is not supported") }
            let n = try rangeCount(try scalar(inputs[0], "start"), try scalar(inputs[1], "limit"), try scalar(inputs[2], "delta"))
            return [TypedShape(t.dtype, [n])]
        case .constantOfShape(let dtype, _):
            guard let s = inputs.first, let x = s else { throw OpError("shape input is missing") }
            guard let v = x.value, let dims = v.integers() else { throw OpError("shape must be known integers before running") }
            guard Tensor.checkedElementCount(dims) != nil else { throw OpError("shape \(dims) is invalid or too large") }
            return [TypedShape(dtype, dims)]
        case .shape(let start, let end):
            guard let s = inputs.first, let x = s else { throw OpError("input is missing") }
            let (a, b) = shapeBounds(rank: x.shape.count, start: start, end: end)
            return [TypedShape(.int64, [b - a])]
        default:
            throw OpError("\(op.typeName) is not a shape op")
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard let out = outputs.first else { throw OpError("no output") }
        switch op {
        case .range:
            guard inputs.count == 3, let s = inputs[0], inputs[1] != nil, let d = inputs[2] else { throw OpError("needs start, limit and delta") }
            let n = out.count
            switch out.dtype {
            case .int64:
                let a = s.pointer(Int64.self)[0], step = d.pointer(Int64.self)[0], p = out.pointer(Int64.self)
                for i in 0..<n { p[i] = a &+ Int64(i) &* step }
            case .int32:
                let a = s.pointer(Int32.self)[0], step = d.pointer(Int32.self)[0], p = out.pointer(Int32.self)
                for i in 0..<n { p[i] = a &+ Int32(truncatingIfNeeded: i) &* step }
            case .int16:
                let a = s.pointer(Int16.self)[0], step = d.pointer(Int16.self)[0], p = out.pointer(Int16.self)
                for i in 0..<n { p[i] = a &+ Int16(truncatingIfNeeded: i) &* step }
            case .float32:
                // Repeated addition, as ONNX's reference and ONNX Runtime accumulate.
                var v = s.pointer(Float.self)[0]
                let step = d.pointer(Float.self)[0], p = out.pointer(Float.self)
                for i in 0..<n { p[i] = v; v += step }
            case .float64:
                var v = s.pointer(Double.self)[0]
                let step = d.pointer(Double.self)[0], p = out.pointer(Double.self)
                for i in 0..<n { p[i] = v; v += step }
            default: throw OpError("type \(out.dtype) is not supported")
            }
        case .constantOfShape(let dtype, let value):
            let one = Tensor(dtype: .float64, shape: [1], scalars: [value])
            let cell = Tensor(dtype: dtype, shape: [1])
            CastKernels.cast(TensorView(one), TensorView(cell), ExecContext(threads: 1))
            let es = dtype.byteSize
            for i in 0..<out.count { (out.data + i * es).copyMemory(from: cell.data, byteCount: es) }
        case .shape(let start, let end):
            guard let s = inputs.first, let x = s else { throw OpError("input is missing") }
            let (a, b) = shapeBounds(rank: x.shape.count, start: start, end: end)
            let p = out.pointer(Int64.self)
            for i in a..<b { p[i - a] = Int64(x.shape[i]) }
        default:
            throw OpError("\(op.typeName) is not a shape op")
        }
    }
}
