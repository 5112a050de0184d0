/// Every operation the runtime executes. ONNX ops are mapped to these cases once, at import;
/// attributes are typed and validated there. Inputs that ONNX passes as tensors (Reshape's
/// shape, Slice's starts, Resize's scales, reduce axes at opset 18) stay inputs, so Plan can
/// evaluate them when they depend on symbolic dimensions.
public enum Op: Sendable, Equatable, Codable {
    // Elementwise, numpy broadcasting.
    case add, sub, mul, div, pow
    case mod(fmod: Bool)
    case equal, less, greater, lessOrEqual, greaterOrEqual, and, or, xor
    case max, min
    case `where`
    // Elementwise unary.
    case sqrt, erf, sigmoid, relu, tanh, exp, log, neg, abs, reciprocal, not, floor, ceil, sin, cos
    case leakyRelu(alpha: Float)
    /// GELU; `tanh` selects the tanh approximation.
    case gelu(tanh: Bool)
    /// x * sigmoid(1.702 x), CLIP's activation (fused by Convert).
    case quickGelu
    /// Inputs: x, optional min, optional max.
    case clip
    case cast(to: DType)
    case identity

    // Linear algebra.
    case matMul
    case gemm(GemmAttrs)
    /// Fused MatMul+Add: inputs x [..., K], weight ([K, N], or [N, K] when transB), optional bias [N].
    case linear(LinearAttrs)
    case conv(ConvAttrs)
    case convTranspose(ConvTransposeAttrs)

    // Normalization.
    /// Inputs: x, scale, bias, mean, var.
    case batchNorm(epsilon: Float)
    /// Inputs: x, scale, optional bias. Normalizes over axes axis..<rank.
    case layerNorm(axis: Int, epsilon: Float)
    case softmax(axis: Int)

    // Spatial.
    /// Inputs: x, roi, scales, sizes (the last three optional).
    case resize(ResizeAttrs)
    case maxPool(PoolAttrs)
    case averagePool(PoolAttrs)
    /// Inputs: data, pads, optional constant value, optional axes.
    case pad(mode: PadMode)

    // Reductions. Axes come from `attrs.axes` (opset < 18) or from a second input (opset 18+).
    case reduce(ReduceKind, ReduceAttrs)
    case argMax(axis: Int, keepDims: Bool, selectLastIndex: Bool)

    // Data movement.
    case transpose(perm: [Int]?)
    /// Inputs: data, shape.
    case reshape(allowZero: Bool)
    case flatten(axis: Int)
    case concat(axis: Int)
    /// Inputs: data, starts, ends, optional axes, optional steps.
    case slice
    /// Inputs: x, optional split sizes.
    case split(axis: Int, numOutputs: Int?)
    case gather(axis: Int)
    case gatherND(batchDims: Int)
    /// Inputs: x, shape.
    case expand
    /// Inputs: x, axes.
    case unsqueeze
    /// Inputs: x, optional axes.
    case squeeze
    /// Inputs: start, limit, delta.
    case range
    /// Input: shape. Output filled with `value`, of `dtype`.
    case constantOfShape(dtype: DType, value: Double)
    case shape(start: Int, end: Int?)

    // Quantization (written by Quantize; inputs: x, scale, zero point).
    case quantizeLinear(axis: Int)
    case dequantizeLinear(axis: Int)
    /// int8 Linear: inputs x (float32), weight (int8 [N, K], per-output-channel scales in the
    /// tensor's QuantParams, zero points 0), optional bias (float32 [N]). x is quantized with
    /// the calibrated `attrs.input` parameters, multiplied in int8 with int32 accumulation, and
    /// the result dequantized to float32 with bias and activation applied in the output loop.
    case qLinear(QLinearAttrs)
    /// int8 Conv: inputs x (float32 NCHW), weight (int8 [Cout, Cin/group, kh, kw], per-output-
    /// channel scales), optional bias (float32 [Cout]); float32 out, like qLinear.
    case qConv(QConvAttrs)
    /// int8 ConvTranspose whose windows do not overlap (2-D, kernel == stride, no padding,
    /// dilation 1, one group; DPT's reassemble upsamplings), as a product over pixels: x (float32
    /// [N, Cin, H, W]), weight (int8 [Cout * kh * kw, Cin], rows in (co, i, j) order, per-row
    /// scales), optional bias (float32 [Cout]); output float32 [N, Cout, H * kh, W * kw] with
    /// y[co, h * kh + i, w * kw + j] = sum over c of x[c, h, w] * weight[(co * kh + i) * kw + j, c] + bias[co].
    case qConvTranspose(QConvTransposeAttrs)

    // Fused heads (written by Convert).
    /// LSeg's head: x (float32 [1, C, h, w]) optionally resized bilinearly to [1, C, H, W],
    /// every pixel's C channels divided by their L2 norm, projected onto the rows of features
    /// (float32 [N, C]) and multiplied by `attrs.scale`: output float32 [1, N, H, W].
    case normalizedProjection(NormalizedProjectionAttrs)
    /// Multi-head self-attention over a fused qkv projection: input float32 [B, N, 3 * C] laid out
    /// as [B, N, 3, heads, D] (q, k, v; C = heads * D), output float32 [B, N, C] with
    /// out[b, n, h * D + d] = sum_j softmax_j(scale * q_h[n] . k_h[j]) v_h[j][d].
    case attention(AttentionAttrs)
}

public struct QLinearAttrs: Sendable, Equatable, Codable {
    /// Per-tensor quantization of the float input (uint8, asymmetric).
    public var input: QuantParams
    public var activation: Activation = .none
    public init(input: QuantParams, activation: Activation = .none) { self.input = input; self.activation = activation }
}

public struct QConvAttrs: Sendable, Equatable, Codable {
    public var conv: ConvAttrs
    public var input: QuantParams
    public init(conv: ConvAttrs, input: QuantParams) { self.conv = conv; self.input = input }
}

public struct QConvTransposeAttrs: Sendable, Equatable, Codable {
    /// Kernel (= stride) height and width.
    public var kernel: [Int]
    public var input: QuantParams
    public var activation: Activation = .none
    public init(kernel: [Int], input: QuantParams, activation: Activation = .none) {
        self.kernel = kernel; self.input = input; self.activation = activation
    }
}

public struct GemmAttrs: Sendable, Equatable, Codable {
    public var alpha: Float = 1
    public var beta: Float = 1
    public var transA = false
    public var transB = false
    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha; self.beta = beta; self.transA = transA; self.transB = transB
    }
}

/// An activation applied in a kernel's output loop (fused by Convert).
public enum Activation: Sendable, Equatable, Codable {
    case none, relu, gelu, quickGelu
    case leakyRelu(alpha: Float)
}

public struct LinearAttrs: Sendable, Equatable, Codable {
    public var transB = false
    public var activation: Activation = .none
    /// Set (to the output width N) when the weight is stored in panels of 32 output columns,
    /// [ceil(N / 32), K, 32] (`PanelLinearRewrite` packs them so at load on CPUs whose kernel
    /// reads them directly); then transB is false. Never written by the converter.
    public var weightPanels: Int?
    public init(transB: Bool = false, activation: Activation = .none, weightPanels: Int? = nil) {
        self.transB = transB; self.activation = activation; self.weightPanels = weightPanels
    }
}

public enum AutoPad: String, Sendable, Equatable, Codable {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
}

public struct ConvAttrs: Sendable, Equatable, Codable {
    /// Spatial kernel size; empty means "from the weight's shape".
    public var kernelShape: [Int] = []
    /// Per spatial axis; empty means all 1.
    public var strides: [Int] = []
    /// Begin pads then end pads; empty means all 0.
    public var pads: [Int] = []
    public var dilations: [Int] = []
    public var group = 1
    public var autoPad: AutoPad = .notSet
    /// Applied to the output last: y = activation(conv + bias + residual).
    public var activation: Activation = .none
    /// Applied to the input before the convolution (a Relu fused into its only reader): `.none`
    /// or `.relu`. Zero padding stays zero either way.
    public var preActivation: Activation = .none
    /// The node has a fourth input shaped like the output, added before `activation` (an Add
    /// fused into the convolution that feeds it: DPT's residual units). Input 2 (bias) may then
    /// be the empty name.
    public var residual = false
    public init(kernelShape: [Int] = [], strides: [Int] = [], pads: [Int] = [], dilations: [Int] = [],
                group: Int = 1, autoPad: AutoPad = .notSet, activation: Activation = .none,
                preActivation: Activation = .none, residual: Bool = false) {
        self.kernelShape = kernelShape; self.strides = strides; self.pads = pads
        self.dilations = dilations; self.group = group; self.autoPad = autoPad; self.activation = activation
        self.preActivation = preActivation; self.residual = residual
    }

    private enum CodingKeys: String, CodingKey {
        case kernelShape, strides, pads, dilations, group, autoPad, activation, preActivation, residual
    }

    /// The two fused fields are written only when set, so a pack without these fusions is byte for
    /// byte what it was before they existed, and packs written before them still read.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kernelShape = try c.decode([Int].self, forKey: .kernelShape)
        strides = try c.decode([Int].self, forKey: .strides)
        pads = try c.decode([Int].self, forKey: .pads)
        dilations = try c.decode([Int].self, forKey: .dilations)
        group = try c.decode(Int.self, forKey: .group)
        autoPad = try c.decode(AutoPad.self, forKey: .autoPad)
        activation = try c.decode(Activation.self, forKey: .activation)
        preActivation = try c.decodeIfPresent(Activation.self, forKey: .preActivation) ?? .none
        residual = try c.decodeIfPresent(Bool.self, forKey: .residual) ?? false
        guard preActivation == .none || preActivation == .relu else {
            throw DecodingError.dataCorruptedError(forKey: .preActivation, in: c,
                                                   debugDescription: "Conv preActivation must be none or relu (got \(preActivation))")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kernelShape, forKey: .kernelShape)
        try c.encode(strides, forKey: .strides)
        try c.encode(pads, forKey: .pads)
        try c.encode(dilations, forKey: .dilations)
        try c.encode(group, forKey: .group)
        try c.encode(autoPad, forKey: .autoPad)
        try c.encode(activation, forKey: .activation)
        if preActivation != .none { try c.encode(preActivation, forKey: .preActivation) }
        if residual { try c.encode(residual, forKey: .residual) }
    }
}

public struct ConvTransposeAttrs: Sendable, Equatable, Codable {
    public var conv: ConvAttrs
    public var outputPadding: [Int] = []
    public var outputShape: [Int] = []
    public init(conv: ConvAttrs, outputPadding: [Int] = [], outputShape: [Int] = []) {
        self.conv = conv; self.outputPadding = outputPadding; self.outputShape = outputShape
    }
}

public struct ResizeAttrs: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable { case nearest, linear, cubic }
    public enum CoordinateTransformation: String, Sendable, Codable {
        case halfPixel = "half_pixel", alignCorners = "align_corners", asymmetric
        case pytorchHalfPixel = "pytorch_half_pixel", tfCropAndResize = "tf_crop_and_resize"
        case halfPixelSymmetric = "half_pixel_symmetric"
    }
    public enum NearestMode: String, Sendable, Codable {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }
    public var mode: Mode = .nearest
    public var coordinateTransformation: CoordinateTransformation = .halfPixel
    public var nearestMode: NearestMode = .roundPreferFloor
    public var cubicCoeffA: Float = -0.75
    public var excludeOutside = false
    public var extrapolationValue: Float = 0
    public var antialias = false
    public var axes: [Int] = []
    public init(mode: Mode = .nearest, coordinateTransformation: CoordinateTransformation = .halfPixel,
                nearestMode: NearestMode = .roundPreferFloor, cubicCoeffA: Float = -0.75,
                excludeOutside: Bool = false, extrapolationValue: Float = 0, antialias: Bool = false, axes: [Int] = []) {
        self.mode = mode; self.coordinateTransformation = coordinateTransformation; self.nearestMode = nearestMode
        self.cubicCoeffA = cubicCoeffA; self.excludeOutside = excludeOutside
        self.extrapolationValue = extrapolationValue; self.antialias = antialias; self.axes = axes
    }
}

public struct PoolAttrs: Sendable, Equatable, Codable {
    public var kernelShape: [Int]
    public var strides: [Int] = []
    public var pads: [Int] = []
    public var dilations: [Int] = []
    public var ceilMode = false
    public var autoPad: AutoPad = .notSet
    public var countIncludePad = false
    public init(kernelShape: [Int], strides: [Int] = [], pads: [Int] = [], dilations: [Int] = [],
                ceilMode: Bool = false, autoPad: AutoPad = .notSet, countIncludePad: Bool = false) {
        self.kernelShape = kernelShape; self.strides = strides; self.pads = pads; self.dilations = dilations
        self.ceilMode = ceilMode; self.autoPad = autoPad; self.countIncludePad = countIncludePad
    }
}

public enum PadMode: String, Sendable, Equatable, Codable { case constant, reflect, edge, wrap }

public enum ReduceKind: String, Sendable, Equatable, Codable, CaseIterable {
    case mean, sum, max, min, prod, l2, l1, sumSquare, logSumExp
}

public struct ReduceAttrs: Sendable, Equatable, Codable {
    /// Axes from the attribute form; nil when they come from the second input (or mean "all").
    public var axes: [Int]?
    public var keepDims = true
    public var noopWithEmptyAxes = false
    public init(axes: [Int]? = nil, keepDims: Bool = true, noopWithEmptyAxes: Bool = false) {
        self.axes = axes; self.keepDims = keepDims; self.noopWithEmptyAxes = noopWithEmptyAxes
    }
}

extension Op {
    /// The op's name as users know it (ONNX's op_type, or ours for fused ops).
    public var typeName: String {
        switch self {
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        case .pow: return "Pow"
        case .mod: return "Mod"
        case .equal: return "Equal"
        case .less: return "Less"
        case .greater: return "Greater"
        case .lessOrEqual: return "LessOrEqual"
        case .greaterOrEqual: return "GreaterOrEqual"
        case .and: return "And"
        case .or: return "Or"
        case .xor: return "Xor"
        case .max: return "Max"
        case .min: return "Min"
        case .where: return "Where"
        case .sqrt: return "Sqrt"
        case .erf: return "Erf"
        case .sigmoid: return "Sigmoid"
        case .relu: return "Relu"
        case .tanh: return "Tanh"
        case .exp: return "Exp"
        case .log: return "Log"
        case .neg: return "Neg"
        case .abs: return "Abs"
        case .reciprocal: return "Reciprocal"
        case .not: return "Not"
        case .floor: return "Floor"
        case .ceil: return "Ceil"
        case .sin: return "Sin"
        case .cos: return "Cos"
        case .leakyRelu: return "LeakyRelu"
        case .gelu: return "Gelu"
        case .quickGelu: return "QuickGelu"
        case .clip: return "Clip"
        case .cast: return "Cast"
        case .identity: return "Identity"
        case .matMul: return "MatMul"
        case .gemm: return "Gemm"
        case .linear: return "Linear"
        case .conv: return "Conv"
        case .convTranspose: return "ConvTranspose"
        case .batchNorm: return "BatchNormalization"
        case .layerNorm: return "LayerNormalization"
        case .softmax: return "Softmax"
        case .resize: return "Resize"
        case .maxPool: return "MaxPool"
        case .averagePool: return "AveragePool"
        case .pad: return "Pad"
        case .reduce(let kind, _):
            switch kind {
            case .mean: return "ReduceMean"
            case .sum: return "ReduceSum"
            case .max: return "ReduceMax"
            case .min: return "ReduceMin"
            case .prod: return "ReduceProd"
            case .l2: return "ReduceL2"
            case .l1: return "ReduceL1"
            case .sumSquare: return "ReduceSumSquare"
            case .logSumExp: return "ReduceLogSumExp"
            }
        case .argMax: return "ArgMax"
        case .transpose: return "Transpose"
        case .reshape: return "Reshape"
        case .flatten: return "Flatten"
        case .concat: return "Concat"
        case .slice: return "Slice"
        case .split: return "Split"
        case .gather: return "Gather"
        case .gatherND: return "GatherND"
        case .expand: return "Expand"
        case .unsqueeze: return "Unsqueeze"
        case .squeeze: return "Squeeze"
        case .range: return "Range"
        case .constantOfShape: return "ConstantOfShape"
        case .shape: return "Shape"
        case .quantizeLinear: return "QuantizeLinear"
        case .dequantizeLinear: return "DequantizeLinear"
        case .qLinear: return "QLinear"
        case .qConv: return "QConv"
        case .qConvTranspose: return "QConvTranspose"
        case .normalizedProjection: return "NormalizedProjection"
        case .attention: return "Attention"
        }
    }
}
