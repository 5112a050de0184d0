import Glibc

/// QuantizeLinear and DequantizeLinear (int8/uint8, int32 for dequantized biases), per tensor
/// (scalar scale) or per axis (1-D scale along `axis`).
enum Quantization {
    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        let x = try Movement.input(inputs, 0)
        let scale = try Movement.input(inputs, 1)
        let zp: ShapeInput? = inputs.count > 2 ? inputs[2] : nil
        guard scale.dtype == .float32 || scale.dtype == .float16 else { throw OpError("scale must be float, got \(scale.dtype)") }
        let axis: Int
        switch op {
        case .quantizeLinear(let a), .dequantizeLinear(let a): axis = a
        default: throw OpError("\(op.typeName) is not a quantization op")
        }
        try checkParams(x.shape, scale.shape, zp?.shape, axis: axis)
        if case .quantizeLinear = op {
            guard x.dtype == .float32 || x.dtype == .float16 else { throw OpError("input must be float, got \(x.dtype)") }
            let t = zp?.dtype ?? .uint8
            guard t == .int8 || t == .uint8 else { throw OpError("zero point type \(t) is not int8 or uint8") }
            return [TypedShape(t, x.shape)]
        }
        guard [.int8, .uint8, .int32].contains(x.dtype) else { throw OpError("input type \(x.dtype) is not int8, uint8 or int32") }
        if let zp, zp.dtype != x.dtype { throw OpError("zero point type \(zp.dtype) differs from input type \(x.dtype)") }
        return [TypedShape(scale.dtype, x.shape)]
    }

    static func checkParams(_ x: [Int], _ scale: [Int], _ zp: [Int]?, axis: Int) throws {
        let n = Tensor.elementCount(scale)
        // One scale is per tensor (whatever its rank); more is per axis and must be 1-D.
        if n != 1 {
            guard scale.count == 1 else { throw OpError("scale must be a scalar or 1-D, has shape \(scale)") }
            let a = try Movement.normalizeAxis(axis, rank: x.count)
            guard x[a] == n else { throw OpError("scale has \(n) entries, axis \(a) has \(x[a])") }
        }
        if let zp, Tensor.elementCount(zp) != n { throw OpError("zero point has shape \(zp), scale \(scale)") }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        let x = try Movement.input(inputs, 0)
        let scaleView = try Movement.input(inputs, 1)
        let zpView: TensorView? = inputs.count > 2 ? inputs[2] : nil
        guard let out = outputs.first else { throw OpError("no output") }
        let scales = NormalizationKernels.floats(scaleView, broadcastTo: [scaleView.count])
        let zps: [Int32]
        if let z = zpView {
            switch z.dtype {
            case .int8: zps = (0..<z.count).map { Int32(z.pointer(Int8.self)[$0]) }
            case .uint8: zps = (0..<z.count).map { Int32(z.pointer(UInt8.self)[$0]) }
            case .int32: zps = (0..<z.count).map { z.pointer(Int32.self)[$0] }
            default: throw OpError("zero point type \(z.dtype) is not supported")
            }
        } else {
            zps = [Int32](repeating: 0, count: scales.count)
        }
        let axis: Int
        switch op {
        case .quantizeLinear(let a), .dequantizeLinear(let a): axis = a
        default: throw OpError("\(op.typeName) is not a quantization op")
        }
        // Channel of element i is (i / inner) % channels; per tensor is one channel.
        let channels = scales.count
        let inner = channels == 1 ? Swift.max(x.count, 1) : Tensor.elementCount(Array(x.shape[(try Movement.normalizeAxis(axis, rank: x.shape.count) + 1)...]))
        if case .quantizeLinear = op {
            try QuantizationKernels.quantize(x, scales: scales, zeroPoints: zps, inner: inner, out, ctx)
        } else {
            try QuantizationKernels.dequantize(x, scales: scales, zeroPoints: zps, inner: inner, out, ctx)
        }
    }
}
