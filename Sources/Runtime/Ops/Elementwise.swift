import CKernels
import Glibc

/// Elementwise ops: numpy-broadcasting binary ops, Where, unary functions, Clip, Cast, Identity.
enum Elementwise {
    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        func input(_ i: Int) throws -> ShapeInput {
            guard i < inputs.count, let x = inputs[i] else { throw OpError("input \(i) is missing") }
            return x
        }
        func sameType(_ xs: [ShapeInput]) throws {
            for x in xs.dropFirst() where x.dtype != xs[0].dtype {
                throw OpError("inputs have different types \(xs[0].dtype) and \(x.dtype)")
            }
        }
        switch op {
        case .add, .sub, .mul, .div, .mod:
            let a = try input(0), b = try input(1)
            try sameType([a, b])
            try requireNumeric(a.dtype)
            return [TypedShape(a.dtype, try Broadcast.shape(a.shape, b.shape))]
        case .pow:
            let a = try input(0), b = try input(1)
            try requireNumeric(a.dtype)
            try requireNumeric(b.dtype)
            return [TypedShape(a.dtype, try Broadcast.shape(a.shape, b.shape))]
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual:
            let a = try input(0), b = try input(1)
            try sameType([a, b])
            return [TypedShape(.bool, try Broadcast.shape(a.shape, b.shape))]
        case .and, .or, .xor:
            let a = try input(0), b = try input(1)
            guard a.dtype == .bool, b.dtype == .bool else { throw OpError("inputs must be bool, got \(a.dtype) and \(b.dtype)") }
            return [TypedShape(.bool, try Broadcast.shape(a.shape, b.shape))]
        case .max, .min:
            let xs = inputs.compactMap { $0 }
            guard !xs.isEmpty, xs.count == inputs.count else { throw OpError("needs one or more inputs, none omitted") }
            try sameType(xs)
            try requireNumeric(xs[0].dtype)
            return [TypedShape(xs[0].dtype, try Broadcast.shape(xs.map(\.shape)))]
        case .where:
            let c = try input(0), x = try input(1), y = try input(2)
            guard c.dtype == .bool else { throw OpError("condition must be bool, got \(c.dtype)") }
            try sameType([x, y])
            return [TypedShape(x.dtype, try Broadcast.shape([c.shape, x.shape, y.shape]))]
        case .sqrt, .erf, .sigmoid, .tanh, .exp, .log, .reciprocal, .floor, .ceil, .sin, .cos, .leakyRelu, .gelu, .quickGelu:
            let x = try input(0)
            guard x.dtype == .float32 || x.dtype == .float16 else { throw OpError("needs float32 or float16, got \(x.dtype)") }
            return [x.typed]
        case .relu, .neg, .abs:
            let x = try input(0)
            try requireNumeric(x.dtype)
            return [x.typed]
        case .not:
            let x = try input(0)
            guard x.dtype == .bool else { throw OpError("needs bool, got \(x.dtype)") }
            return [x.typed]
        case .clip:
            let x = try input(0)
            try requireNumeric(x.dtype)
            for i in 1..<Swift.min(inputs.count, 3) {
                if let b = inputs[i] {
                    guard b.dtype == x.dtype else { throw OpError("bound \(i) has type \(b.dtype), input has \(x.dtype)") }
                    guard Tensor.elementCount(b.shape) == 1 else { throw OpError("bound \(i) must be a scalar, has shape \(b.shape)") }
                }
            }
            return [x.typed]
        case .cast(let to):
            let x = try input(0)
            return [TypedShape(to, x.shape)]
        case .identity:
            return [try input(0).typed]
        default:
            throw OpError("\(op.typeName) is not an elementwise op")
        }
    }

    /// Types the arithmetic kernels handle.
    static func requireNumeric(_ t: DType) throws {
        switch t {
        case .float32, .float16, .int64, .int32: return
        default: throw OpError("type \(t) is not supported (float32, float16, int64, int32)")
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard let out = outputs.first else { throw OpError("no output") }
        func input(_ i: Int) throws -> TensorView {
            guard i < inputs.count, let x = inputs[i] else { throw OpError("input \(i) is missing") }
            return x
        }
        switch op {
        case .add: try arithmetic(try input(0), try input(1), out, ctx, cop: LSEG_BIN_ADD, { $0 + $1 }, { $0 &+ $1 }, { $0 &+ $1 })
        case .sub: try arithmetic(try input(0), try input(1), out, ctx, cop: LSEG_BIN_SUB, { $0 - $1 }, { $0 &- $1 }, { $0 &- $1 })
        case .mul: try arithmetic(try input(0), try input(1), out, ctx, cop: LSEG_BIN_MUL, { $0 * $1 }, { $0 &* $1 }, { $0 &* $1 })
        case .div: try arithmetic(try input(0), try input(1), out, ctx, cop: LSEG_BIN_DIV, { $0 / $1 }, intDivide, intDivide)
        case .mod(let fmod):
            if fmod {
                try arithmetic(try input(0), try input(1), out, ctx, cop: nil, { fmodf($0, $1) }, intRemainder, intRemainder)
            } else {
                try arithmetic(try input(0), try input(1), out, ctx, cop: nil, floorModFloat, intFloorMod, intFloorMod)
            }
        case .pow: try power(try input(0), try input(1), out, ctx)
        case .max, .min:
            let isMax = op == .max
            let xs = try (0..<inputs.count).map { try input($0) }
            if xs.count == 1 {
                try broadcastCopy(xs[0], out, ctx)
                return
            }
            let fmax: (Float, Float) -> Float = { a, b in a.isNaN || a > b ? a : b }
            let fmin: (Float, Float) -> Float = { a, b in a.isNaN || a < b ? a : b }
            // Fold left: out = op(x0, x1), then out = op(out, xi); out's shape covers every input.
            try arithmetic(xs[0], xs[1], out, ctx, cop: isMax ? LSEG_BIN_MAX : LSEG_BIN_MIN,
                           isMax ? fmax : fmin, isMax ? Swift.max : Swift.min, isMax ? Swift.max : Swift.min)
            for x in xs.dropFirst(2) {
                try arithmetic(out, x, out, ctx, cop: isMax ? LSEG_BIN_MAX : LSEG_BIN_MIN,
                               isMax ? fmax : fmin, isMax ? Swift.max : Swift.min, isMax ? Swift.max : Swift.min)
            }
        case .equal: try compare(try input(0), try input(1), out, ctx, { $0 == $1 }, { $0 == $1 }, { $0 == $1 })
        case .less: try compare(try input(0), try input(1), out, ctx, { $0 < $1 }, { $0 < $1 }, { $0 < $1 })
        case .greater: try compare(try input(0), try input(1), out, ctx, { $0 > $1 }, { $0 > $1 }, { $0 > $1 })
        case .lessOrEqual: try compare(try input(0), try input(1), out, ctx, { $0 <= $1 }, { $0 <= $1 }, { $0 <= $1 })
        case .greaterOrEqual: try compare(try input(0), try input(1), out, ctx, { $0 >= $1 }, { $0 >= $1 }, { $0 >= $1 })
        case .and: logical(try input(0), try input(1), out, ctx) { $0 && $1 }
        case .or: logical(try input(0), try input(1), out, ctx) { $0 || $1 }
        case .xor: logical(try input(0), try input(1), out, ctx) { $0 != $1 }
        case .where: ElementwiseKernels.whereSelect(try input(0), try input(1), try input(2), out, ctx)
        case .sqrt: try floatUnary(.sqrt, try input(0), out, ctx)
        case .erf: try floatUnary(.erf, try input(0), out, ctx)
        case .sigmoid: try floatUnary(.sigmoid, try input(0), out, ctx)
        case .tanh: try floatUnary(.tanh, try input(0), out, ctx)
        case .exp: try floatUnary(.exp, try input(0), out, ctx)
        case .log: try floatUnary(.log, try input(0), out, ctx)
        case .reciprocal: try floatUnary(.reciprocal, try input(0), out, ctx)
        case .floor: try floatUnary(.floor, try input(0), out, ctx)
        case .ceil: try floatUnary(.ceil, try input(0), out, ctx)
        case .sin: try floatUnary(.sin, try input(0), out, ctx)
        case .cos: try floatUnary(.cos, try input(0), out, ctx)
        case .leakyRelu(let alpha): try floatUnary(.leakyRelu(alpha), try input(0), out, ctx)
        case .gelu(let tanh): try floatUnary(tanh ? .geluTanh : .geluErf, try input(0), out, ctx)
        case .quickGelu: try floatUnary(.quickGelu, try input(0), out, ctx)
        case .relu:
            try signedUnary(.relu, try input(0), out, ctx) { Swift.max($0, 0) } _: { Swift.max($0, 0) }
        case .neg:
            try signedUnary(.neg, try input(0), out, ctx) { 0 &- $0 } _: { 0 &- $0 }
        case .abs:
            try signedUnary(.abs, try input(0), out, ctx) { $0 < 0 ? 0 &- $0 : $0 } _: { $0 < 0 ? 0 &- $0 : $0 }
        case .not:
            ElementwiseKernels.map(try input(0), out, ctx, UInt8.self, UInt8.self) { $0 == 0 ? 1 : 0 }
        case .clip: try clip(try input(0), inputs.count > 1 ? inputs[1] : nil, inputs.count > 2 ? inputs[2] : nil, out, ctx)
        case .cast: CastKernels.cast(try input(0), out, ctx)
        case .identity: ElementwiseKernels.copyIfNeeded(try input(0), out)
        default: throw OpError("\(op.typeName) is not an elementwise op")
        }
    }

    // MARK: Integer semantics (never trap: division by zero gives 0, as there is no defined result)

    static func intDivide<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        if b == 0 { return 0 }
        return a.dividedReportingOverflow(by: b).partialValue
    }

    static func intRemainder<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        if b == 0 { return 0 }
        return a.remainderReportingOverflow(dividingBy: b).partialValue
    }

    /// Python's %: the result takes the divisor's sign.
    static func intFloorMod<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        var r = intRemainder(a, b)
        if r != 0 && (r < 0) != (b < 0) { r = r &+ b }
        return r
    }

    static func floorModFloat(_ a: Float, _ b: Float) -> Float {
        var r = fmodf(a, b)
        if r != 0 && (r < 0) != (b < 0) { r += b }
        return r
    }

    // MARK: Dispatch by dtype

    static func arithmetic(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext, cop: lseg_binary_op?,
                           _ f: (Float, Float) -> Float, _ f64: (Int64, Int64) -> Int64, _ f32: (Int32, Int32) -> Int32) throws {
        guard a.dtype == b.dtype, a.dtype == out.dtype else { throw OpError("input types \(a.dtype), \(b.dtype) differ") }
        switch a.dtype {
        case .float32, .float16: ElementwiseKernels.floatBinary(a, b, out, ctx, cop: cop, f)
        case .int64: ElementwiseKernels.binary(a, b, out, ctx, Int64.self, Int64.self, Int64.self, f64)
        case .int32: ElementwiseKernels.binary(a, b, out, ctx, Int32.self, Int32.self, Int32.self, f32)
        default: throw OpError("type \(a.dtype) is not supported")
        }
    }

    /// Pow(T, T1): base and exponent may differ in type; the result has the base's type.
    static func power(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext) throws {
        if a.dtype == b.dtype && a.dtype.isFloat {
            // Float types only here; the integer closures are never called.
            try arithmetic(a, b, out, ctx, cop: nil, { powf($0, $1) }, { _, _ in 0 }, { _, _ in 0 })
            return
        }
        // Mixed types: compute in double through element loads.
        let loadA = try elementReader(a), loadB = try elementReader(b)
        let w = ElementwiseKernels.walk(out, [a, b])
        let sa = w.innerStride(1), sb = w.innerStride(2)
        let dst = out
        let store = try elementWriter(dst)
        ElementwiseKernels.parallelRuns(w, ctx) { off, n in
            for i in 0..<n { store(off[0] + i, Glibc.pow(loadA(off[1] + i * sa), loadB(off[2] + i * sb))) }
        }
    }

    static func elementReader(_ v: TensorView) throws -> (Int) -> Double {
        switch v.dtype {
        case .float32: let p = v.pointer(Float.self); return { Double(p[$0]) }
        case .float16: let p = v.pointer(UInt16.self); return { Double(Float16Conversion.float(fromBits: p[$0])) }
        case .int64: let p = v.pointer(Int64.self); return { Double(p[$0]) }
        case .int32: let p = v.pointer(Int32.self); return { Double(p[$0]) }
        default: throw OpError("type \(v.dtype) is not supported")
        }
    }

    static func elementWriter(_ v: TensorView) throws -> (Int, Double) -> Void {
        switch v.dtype {
        case .float32: let p = v.pointer(Float.self); return { p[$0] = Float($1) }
        case .float16: let p = v.pointer(UInt16.self); return { p[$0] = Float16Conversion.bits(from: Float($1)) }
        case .int64: let p = v.pointer(Int64.self); return { p[$0] = CastKernels.truncated($1) }
        case .int32: let p = v.pointer(Int32.self); return { p[$0] = Int32(truncatingIfNeeded: CastKernels.truncated($1)) }
        default: throw OpError("type \(v.dtype) is not supported")
        }
    }

    static func compare(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext,
                        _ f: (Float, Float) -> Bool, _ f64: (Int64, Int64) -> Bool, _ f32: (Int32, Int32) -> Bool) throws {
        guard a.dtype == b.dtype else { throw OpError("input types \(a.dtype), \(b.dtype) differ") }
        switch a.dtype {
        case .float32, .float16: ElementwiseKernels.floatCompare(a, b, out, ctx, f)
        case .int64: ElementwiseKernels.binary(a, b, out, ctx, Int64.self, Int64.self, UInt8.self) { f64($0, $1) ? 1 : 0 }
        case .int32: ElementwiseKernels.binary(a, b, out, ctx, Int32.self, Int32.self, UInt8.self) { f32($0, $1) ? 1 : 0 }
        case .bool, .uint8: ElementwiseKernels.binary(a, b, out, ctx, UInt8.self, UInt8.self, UInt8.self) { f64(Int64($0), Int64($1)) ? 1 : 0 }
        default: throw OpError("type \(a.dtype) is not supported")
        }
    }

    static func logical(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ ctx: ExecContext, _ f: (Bool, Bool) -> Bool) {
        ElementwiseKernels.binary(a, b, out, ctx, UInt8.self, UInt8.self, UInt8.self) { f($0 != 0, $1 != 0) ? 1 : 0 }
    }

    static func floatUnary(_ op: UnaryFloatOp, _ x: TensorView, _ out: TensorView, _ ctx: ExecContext) throws {
        guard x.dtype == .float32 || x.dtype == .float16 else { throw OpError("needs float32 or float16, got \(x.dtype)") }
        ElementwiseKernels.floatUnary(op, x, out, ctx)
    }

    static func signedUnary(_ op: UnaryFloatOp, _ x: TensorView, _ out: TensorView, _ ctx: ExecContext,
                            _ f64: (Int64) -> Int64, _ f32: (Int32) -> Int32) throws {
        switch x.dtype {
        case .float32, .float16: ElementwiseKernels.floatUnary(op, x, out, ctx)
        case .int64: ElementwiseKernels.map(x, out, ctx, Int64.self, Int64.self, f64)
        case .int32: ElementwiseKernels.map(x, out, ctx, Int32.self, Int32.self, f32)
        default: throw OpError("type \(x.dtype) is not supported")
        }
    }

    static func clip(_ x: TensorView, _ lo: TensorView?, _ hi: TensorView?, _ out: TensorView, _ ctx: ExecContext) throws {
        switch x.dtype {
        case .float32, .float16:
            func bound(_ v: TensorView?, _ dflt: Float) -> Float {
                guard let v else { return dflt }
                return v.dtype == .float32 ? v.pointer(Float.self)[0] : Float16Conversion.float(fromBits: v.pointer(UInt16.self)[0])
            }
            let l = bound(lo, -.infinity), h = bound(hi, .infinity)
            ElementwiseKernels.floatUnary(.clip(l, h), x, out, ctx)
        case .int64:
            let l = lo?.pointer(Int64.self)[0] ?? .min, h = hi?.pointer(Int64.self)[0] ?? .max
            ElementwiseKernels.map(x, out, ctx, Int64.self, Int64.self) { Swift.min(Swift.max($0, l), h) }
        case .int32:
            let l = lo?.pointer(Int32.self)[0] ?? .min, h = hi?.pointer(Int32.self)[0] ?? .max
            ElementwiseKernels.map(x, out, ctx, Int32.self, Int32.self) { Swift.min(Swift.max($0, l), h) }
        default: throw OpError("type \(x.dtype) is not supported")
        }
    }

    /// Copies x broadcast to out's shape (Max/Min with one input, Expand).
    static func broadcastCopy(_ x: TensorView, _ out: TensorView, _ ctx: ExecContext) throws {
        if x.shape == out.shape {
            ElementwiseKernels.copyIfNeeded(x, out)
            return
        }
        MovementKernels.stridedCopy(x, baseOffset: 0, strides: Broadcast.strides(x.shape, to: out.shape), out, ctx)
    }
}
