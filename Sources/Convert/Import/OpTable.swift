import Foundation
import Runtime

/// How one ONNX op type becomes an `Op`: the first default-domain opset that has it, the
/// input and output counts it accepts, and a small function that reads and validates its
/// attributes (branching on `reader.opset` where the op's meaning changed).
struct OpImport: Sendable {
    let since: Int
    let inputs: ClosedRange<Int>
    let outputs: ClosedRange<Int>
    let make: @Sendable (inout NodeReader) throws -> Op

    init(since: Int = 1, inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1, _ make: @escaping @Sendable (inout NodeReader) throws -> Op) {
        self.since = since; self.inputs = inputs; self.outputs = outputs; self.make = make
    }

    static func fixed(_ op: Op, inputs: ClosedRange<Int>) -> OpImport { OpImport(inputs: inputs) { _ in op } }
}

/// The one table of ONNX op types we import (default domain, opsets 13 to 21).
enum OpTable {
    static let supportedOpsets = 13...21
    static let many = Int(Int32.max)

    static let table: [String: OpImport] = {
        var t: [String: OpImport] = [:]
        let binary: [(String, Op)] = [("Add", .add), ("Sub", .sub), ("Mul", .mul), ("Div", .div), ("Pow", .pow),
                                      ("Equal", .equal), ("Less", .less), ("Greater", .greater), ("LessOrEqual", .lessOrEqual),
                                      ("GreaterOrEqual", .greaterOrEqual), ("And", .and), ("Or", .or), ("Xor", .xor)]
        for (name, op) in binary { t[name] = .fixed(op, inputs: 2...2) }
        let unary: [(String, Op)] = [("Sqrt", .sqrt), ("Erf", .erf), ("Sigmoid", .sigmoid), ("Relu", .relu), ("Tanh", .tanh),
                                     ("Exp", .exp), ("Log", .log), ("Neg", .neg), ("Abs", .abs), ("Reciprocal", .reciprocal),
                                     ("Not", .not), ("Floor", .floor), ("Ceil", .ceil), ("Sin", .sin), ("Cos", .cos),
                                     ("Identity", .identity)]
        for (name, op) in unary { t[name] = .fixed(op, inputs: 1...1) }
        // Max and Min are variadic in ONNX; we run the two-input form (one input is a copy).
        t["Max"] = OpImport(inputs: 1...2) { r in r.inputs.count == 1 ? .identity : .max }
        t["Min"] = OpImport(inputs: 1...2) { r in r.inputs.count == 1 ? .identity : .min }
        t["Where"] = .fixed(.where, inputs: 3...3)
        t["Mod"] = OpImport(inputs: 2...2) { r in .mod(fmod: try r.bool("fmod", false)) }
        t["LeakyRelu"] = OpImport(inputs: 1...1) { r in .leakyRelu(alpha: try r.float("alpha", 0.01)) }
        t["Gelu"] = OpImport(since: 20, inputs: 1...1) { r in
            switch try r.string("approximate") ?? "none" {
            case "none": return .gelu(tanh: false)
            case "tanh": return .gelu(tanh: true)
            case let s: throw r.fail("attribute 'approximate' has unknown value '\(s)'")
            }
        }
        t["Clip"] = .fixed(.clip, inputs: 1...3)
        t["Cast"] = OpImport(inputs: 1...1) { r in
            guard let code = try r.int("to") else { throw r.fail("attribute 'to' is missing") }
            r.ignore("saturate")  // only affects float8 targets, which we refuse below
            guard code > 0, code <= 255, code != 8, let d = DType(rawValue: UInt8(code)) else {
                throw r.fail("cast to element type \(code) (\(TensorDecoder.onnxTypeName(Int32(clamping: code)))) is not supported")
            }
            return .cast(to: d)
        }
        t["Dropout"] = OpImport(inputs: 1...3, outputs: 1...2) { r in
            // Inference: the data passes through; the mask output must be unused.
            r.ignore("seed")
            try r.dropOutputs(after: 1, "mask")
            r.inputs = [r.inputs[0]]
            return .identity
        }

        t["MatMul"] = .fixed(.matMul, inputs: 2...2)
        t["Gemm"] = OpImport(inputs: 2...3) { r in
            .gemm(GemmAttrs(alpha: try r.float("alpha", 1), beta: try r.float("beta", 1),
                            transA: try r.bool("transA", false), transB: try r.bool("transB", false)))
        }
        t["Conv"] = OpImport(inputs: 2...3) { r in .conv(try convAttrs(&r)) }
        t["ConvTranspose"] = OpImport(inputs: 2...3) { r in
            let conv = try convAttrs(&r)
            let outputPadding = try r.nonNegative("output_padding", try r.ints("output_padding") ?? [])
            let outputShape = try r.positive("output_shape", try r.ints("output_shape") ?? [])
            try r.sameSpatialRank([("kernel_shape", conv.kernelShape, 1), ("output_padding", outputPadding, 1)])
            return .convTranspose(ConvTransposeAttrs(conv: conv, outputPadding: outputPadding, outputShape: outputShape))
        }
        t["BatchNormalization"] = OpImport(inputs: 5...5, outputs: 1...3) { r in
            r.ignore("momentum")
            if try r.bool("training_mode", false) { throw r.fail("training_mode = 1 is not supported") }
            try r.dropOutputs(after: 1, "running statistics")
            return .batchNorm(epsilon: try r.float("epsilon", 1e-5))
        }
        t["LayerNormalization"] = OpImport(since: 17, inputs: 2...3, outputs: 1...3) { r in
            r.ignore("stash_type")  // precision of the statistics; we always compute them in float
            try r.dropOutputs(after: 1, "mean / inverse std")
            return .layerNorm(axis: try r.int("axis", -1), epsilon: try r.float("epsilon", 1e-5))
        }
        t["Softmax"] = OpImport(inputs: 1...1) { r in .softmax(axis: try r.int("axis", -1)) }

        t["Resize"] = OpImport(inputs: 1...4) { r in
            var a = ResizeAttrs()
            a.mode = try r.choice("mode", ResizeAttrs.Mode.nearest)
            a.coordinateTransformation = try r.choice("coordinate_transformation_mode", ResizeAttrs.CoordinateTransformation.halfPixel)
            if a.coordinateTransformation == .halfPixelSymmetric && r.opset < 19 {
                throw r.fail("coordinate_transformation_mode 'half_pixel_symmetric' needs opset 19")
            }
            a.nearestMode = try r.choice("nearest_mode", ResizeAttrs.NearestMode.roundPreferFloor)
            a.cubicCoeffA = try r.float("cubic_coeff_a", -0.75)
            a.excludeOutside = try r.bool("exclude_outside", false)
            a.extrapolationValue = try r.float("extrapolation_value", 0)
            a.antialias = try r.bool("antialias", false)
            a.axes = try r.ints("axes") ?? []
            let policy = try r.string("keep_aspect_ratio_policy") ?? "stretch"
            guard policy == "stretch" else { throw r.fail("keep_aspect_ratio_policy '\(policy)' is not supported (only 'stretch')") }
            return .resize(a)
        }
        t["MaxPool"] = OpImport(inputs: 1...1, outputs: 1...2) { r in
            try r.dropOutputs(after: 1, "indices")
            r.ignore("storage_order")  // only affects the indices output
            return .maxPool(try poolAttrs(&r, countIncludePad: false))
        }
        t["AveragePool"] = OpImport(inputs: 1...1) { r in
            .averagePool(try poolAttrs(&r, countIncludePad: try r.bool("count_include_pad", false)))
        }
        t["Pad"] = OpImport(inputs: 2...4) { r in
            let mode = try r.choice("mode", PadMode.constant)
            if mode == .wrap && r.opset < 19 { throw r.fail("mode 'wrap' needs opset 19") }
            return .pad(mode: mode)
        }

        let reductions: [(String, ReduceKind)] = [("ReduceMean", .mean), ("ReduceSum", .sum), ("ReduceMax", .max), ("ReduceMin", .min),
                                                  ("ReduceProd", .prod), ("ReduceL2", .l2), ("ReduceL1", .l1),
                                                  ("ReduceSumSquare", .sumSquare), ("ReduceLogSumExp", .logSumExp)]
        for (name, kind) in reductions {
            // ReduceSum takes axes as an input from opset 13, the others from opset 18.
            let axesAsInput = kind == .sum ? 13 : 18
            t[name] = OpImport(inputs: 1...2) { r in
                var a = ReduceAttrs(keepDims: try r.bool("keepdims", true))
                a.noopWithEmptyAxes = try r.bool("noop_with_empty_axes", false)
                if r.opset >= axesAsInput {
                    if r.has("axes") { throw r.fail("attribute 'axes' is not allowed at opset \(r.opset); axes are an input") }
                } else {
                    if r.inputs.count > 1 { throw r.fail("axes input is not allowed below opset \(axesAsInput)") }
                    a.axes = try r.ints("axes")
                }
                return .reduce(kind, a)
            }
        }
        t["ArgMax"] = OpImport(inputs: 1...1) { r in
            .argMax(axis: try r.int("axis", 0), keepDims: try r.bool("keepdims", true),
                    selectLastIndex: try r.bool("select_last_index", false))
        }

        t["Transpose"] = OpImport(inputs: 1...1) { r in
            guard let perm = try r.ints("perm") else { return .transpose(perm: nil) }
            guard perm.sorted() == Array(0..<perm.count) else { throw r.fail("attribute 'perm' \(perm) is not a permutation") }
            return .transpose(perm: perm)
        }
        t["Reshape"] = OpImport(inputs: 2...2) { r in .reshape(allowZero: try r.bool("allowzero", false)) }
        t["Flatten"] = OpImport(inputs: 1...1) { r in .flatten(axis: try r.int("axis", 1)) }
        t["Concat"] = OpImport(inputs: 1...many) { r in
            guard let axis = try r.int("axis") else { throw r.fail("attribute 'axis' is missing") }
            return .concat(axis: axis)
        }
        t["Slice"] = .fixed(.slice, inputs: 3...5)
        t["Split"] = OpImport(inputs: 1...2, outputs: 1...many) { r in
            let axis = try r.int("axis", 0)
            let hasSizes = r.inputs.count > 1 && !r.inputs[1].isEmpty
            let n: Int?
            if r.opset >= 18, let k = try r.int("num_outputs") {
                guard k >= 1, k == r.outputs.count else { throw r.fail("num_outputs \(k) but \(r.outputs.count) outputs") }
                guard !hasSizes else { throw r.fail("both a split input and num_outputs are given") }
                n = k
            } else {
                // Without sizes the input splits evenly into one part per output.
                n = hasSizes ? nil : r.outputs.count
            }
            return .split(axis: axis, numOutputs: n)
        }
        t["Gather"] = OpImport(inputs: 2...2) { r in .gather(axis: try r.int("axis", 0)) }
        t["GatherND"] = OpImport(inputs: 2...2) { r in
            let b = try r.int("batch_dims", 0)
            guard b >= 0 else { throw r.fail("batch_dims must be non-negative, got \(b)") }
            return .gatherND(batchDims: b)
        }
        t["Expand"] = .fixed(.expand, inputs: 2...2)
        t["Unsqueeze"] = .fixed(.unsqueeze, inputs: 2...2)
        t["Squeeze"] = .fixed(.squeeze, inputs: 1...2)
        t["Range"] = .fixed(.range, inputs: 3...3)
        t["ConstantOfShape"] = OpImport(inputs: 1...1) { r in
            guard let v = try r.tensor("value") else { return .constantOfShape(dtype: .float32, value: 0) }
            guard v.count == 1 else { throw r.fail("attribute 'value' must hold one element, has \(v.count)") }
            guard let x = scalarValue(v) else { throw r.fail("attribute 'value' of type \(v.dtype) is not supported") }
            return .constantOfShape(dtype: v.dtype, value: x)
        }
        t["Shape"] = OpImport(inputs: 1...1) { r in
            if r.opset < 15 { return .shape(start: 0, end: nil) }
            return .shape(start: try r.int("start", 0), end: try r.int("end"))
        }
        for (name, dequantize) in [("QuantizeLinear", false), ("DequantizeLinear", true)] {
            t[name] = OpImport(inputs: 2...3) { r in
                let axis = try r.int("axis", 1)
                if let b = try r.int("block_size"), b != 0 { throw r.fail("blocked quantization (block_size \(b)) is not supported") }
                r.ignore("saturate")  // float8 outputs only
                if !dequantize, let code = try r.int("output_dtype"), code != 0, code != 2, code != 3 {
                    throw r.fail("output_dtype \(code) is not supported (int8 or uint8 only)")
                }
                return dequantize ? .dequantizeLinear(axis: axis) : .quantizeLinear(axis: axis)
            }
        }
        return t
    }()

    static func convAttrs(_ r: inout NodeReader) throws -> ConvAttrs {
        var a = ConvAttrs()
        a.kernelShape = try r.positive("kernel_shape", try r.ints("kernel_shape") ?? [])
        a.strides = try r.positive("strides", try r.ints("strides") ?? [])
        a.pads = try r.nonNegative("pads", try r.ints("pads") ?? [])
        a.dilations = try r.positive("dilations", try r.ints("dilations") ?? [])
        a.group = try r.int("group", 1)
        guard a.group >= 1 else { throw r.fail("attribute 'group' must be at least 1, got \(a.group)") }
        a.autoPad = try r.choice("auto_pad", AutoPad.notSet)
        try r.sameSpatialRank([("kernel_shape", a.kernelShape, 1), ("strides", a.strides, 1), ("pads", a.pads, 2),
                               ("dilations", a.dilations, 1)])
        return a
    }

    static func poolAttrs(_ r: inout NodeReader, countIncludePad: Bool) throws -> PoolAttrs {
        guard let k = try r.ints("kernel_shape"), !k.isEmpty else { throw r.fail("attribute 'kernel_shape' is missing") }
        var a = PoolAttrs(kernelShape: try r.positive("kernel_shape", k))
        a.strides = try r.positive("strides", try r.ints("strides") ?? [])
        a.pads = try r.nonNegative("pads", try r.ints("pads") ?? [])
        a.dilations = try r.positive("dilations", try r.ints("dilations") ?? [])
        a.ceilMode = try r.bool("ceil_mode", false)
        a.autoPad = try r.choice("auto_pad", AutoPad.notSet)
        a.countIncludePad = countIncludePad
        try r.sameSpatialRank([("kernel_shape", a.kernelShape, 1), ("strides", a.strides, 1), ("pads", a.pads, 2),
                               ("dilations", a.dilations, 1)])
        return a
    }

    /// The single element of `t` as a Double (ConstantOfShape's fill value).
    static func scalarValue(_ t: Tensor) -> Double? {
        switch t.dtype {
        case .float32: return Double(t.scalars(as: Float.self)[0])
        case .float64: return t.scalars(as: Double.self)[0]
        case .float16: return Double(halfToFloat(t.scalars(as: UInt16.self)[0]))
        case .bfloat16: return Double(Float(bitPattern: UInt32(t.scalars(as: UInt16.self)[0]) << 16))
        case .int64: return Double(t.scalars(as: Int64.self)[0])
        case .uint64: return Double(t.scalars(as: UInt64.self)[0])
        case .int32, .uint8, .int8, .int16, .uint16, .uint32, .bool: return t.integers().map { Double($0[0]) }
        }
    }

    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f), man = UInt32(h & 0x3ff)
        if exp == 0 {
            let v = Float(man) * Float(sign != 0 ? -1 : 1) / Float(1 << 24)
            return v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (man << 13))
    }
}

extension ONNXImporter {
    /// The ONNX op types the converter imports (default domain), with the first opset that has
    /// each, sorted by name; every one is accepted up to the newest supported opset.
    public static var supportedOps: [(opType: String, since: Int)] {
        OpTable.table.map { ($0.key, max($0.value.since, OpTable.supportedOpsets.lowerBound)) }.sorted { $0.opType < $1.opType }
    }

    public static var supportedOpsets: ClosedRange<Int> { OpTable.supportedOpsets }
}
