/// Attributes of `.normalizedProjection`, LSeg's fused head (see `Op.normalizedProjection`).
public struct NormalizedProjectionAttrs: Sendable, Equatable, Codable {
    /// How the pixel norm is kept away from zero, exactly as the fused graph did it.
    public enum NormGuard: Sendable, Equatable, Codable {
        /// x / sqrt(sum x^2), LSeg's `x / x.norm(dim=-1, keepdim=True)`: a zero pixel gives NaN.
        case none
        /// x / max(sqrt(sum x^2), epsilon), as torch.nn.functional.normalize.
        case clampNorm(epsilon: Float)
        /// x / sqrt(sum x^2 + epsilon).
        case addToSquaredSum(epsilon: Float)
    }

    /// A bilinear resize of x's last two axes before normalizing, computed as ONNX Resize with
    /// mode linear and this coordinate transformation. Exactly one of `scales` and `sizes` holds
    /// two values (height, width); output size = floor(input * scale) as in Resize.
    public struct Upsample: Sendable, Equatable, Codable {
        public var coordinateTransformation: ResizeAttrs.CoordinateTransformation
        public var scales: [Float]
        public var sizes: [Int]
        public init(coordinateTransformation: ResizeAttrs.CoordinateTransformation, scales: [Float] = [], sizes: [Int] = []) {
            self.coordinateTransformation = coordinateTransformation; self.scales = scales; self.sizes = sizes
        }
    }

    public var upsample: Upsample?
    /// Multiplies every output (CLIP's logit scale).
    public var scale: Float
    public var normGuard: NormGuard

    public init(upsample: Upsample? = nil, scale: Float = 1, normGuard: NormGuard = .none) {
        self.upsample = upsample; self.scale = scale; self.normGuard = normGuard
    }

    private enum CodingKeys: String, CodingKey { case upsample, scale, normGuard }

    /// Decodes and validates, so a pack with bad attributes fails when read, naming the fault.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        upsample = try c.decodeIfPresent(Upsample.self, forKey: .upsample)
        scale = try c.decode(Float.self, forKey: .scale)
        normGuard = try c.decode(NormGuard.self, forKey: .normGuard)
        if let problem = self.problem {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "NormalizedProjection: \(problem)"))
        }
    }

    /// What is wrong with these attributes, or nil when they are valid.
    public var problem: String? {
        guard scale.isFinite else { return "scale \(scale) is not finite" }
        switch normGuard {
        case .none: break
        case .clampNorm(let e), .addToSquaredSum(let e):
            guard e.isFinite, e >= 0 else { return "norm epsilon \(e) must be finite and >= 0" }
        }
        if let u = upsample {
            switch u.coordinateTransformation {
            case .tfCropAndResize: return "upsample coordinate transformation tf_crop_and_resize is not supported"
            case .halfPixel, .alignCorners, .asymmetric, .pytorchHalfPixel, .halfPixelSymmetric: break
            }
            if u.sizes.isEmpty {
                guard u.scales.count == 2, u.scales.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 65_536 }) else {
                    return "upsample scales \(u.scales) must be two positive finite factors (height, width) up to 65536"
                }
            } else {
                guard u.scales.isEmpty, u.sizes.count == 2, u.sizes.allSatisfy({ $0 > 0 && $0 <= Int(Int32.max) }) else {
                    return "upsample needs either two scales or two sizes in 1...\(Int32.max) (got scales \(u.scales), sizes \(u.sizes))"
                }
            }
        }
        return nil
    }
}

/// Shape inference, workspace and dispatch of `.normalizedProjection`; the kernels are in
/// NormalizedProjectionKernels.
enum NormalizedProjection {
    struct Shapes: Equatable {
        var channels: Int, labels: Int
        var inHeight: Int, inWidth: Int
        var height: Int, width: Int
    }

    /// The Resize plan of the upsample (nil without one) and the output geometry.
    static func shapes(_ attrs: NormalizedProjectionAttrs, x: [Int], features: [Int]) throws -> (Shapes, ResizeOp.Plan?) {
        if let p = attrs.problem { throw OpError(p) }
        guard x.count == 4, x[0] == 1 else { throw OpError("input must be [1, C, H, W] (got \(x))") }
        guard features.count == 2, features[1] == x[1] else {
            throw OpError("features must be [N, \(x[1])] for input \(x) (got \(features))")
        }
        var s = Shapes(channels: x[1], labels: features[0], inHeight: x[2], inWidth: x[3], height: x[2], width: x[3])
        guard let u = attrs.upsample else { return (s, nil) }
        let resize = ResizeAttrs(mode: .linear, coordinateTransformation: u.coordinateTransformation)
        let plan = try ResizeOp.plan(x, roi: nil, scales: u.scales.isEmpty ? nil : [1, 1] + u.scales,
                                     sizes: u.sizes.isEmpty ? nil : [x[0], x[1]] + u.sizes, resize)
        guard x[2] > 0 || plan.output[2] == 0, x[3] > 0 || plan.output[3] == 0 else {
            throw OpError("cannot upsample an empty input \(x) to \(plan.output)")
        }
        s.height = plan.output[2]; s.width = plan.output[3]
        return (s, plan)
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard case .normalizedProjection(let attrs) = op else { throw OpError("\(op.typeName) is not NormalizedProjection") }
        guard inputs.count == 2, let x = inputs[0], let f = inputs[1] else { throw OpError("needs inputs x and features") }
        guard x.dtype == .float32, f.dtype == .float32 else {
            throw OpError("supports float32 only (got x \(x.dtype), features \(f.dtype))")
        }
        let (s, _) = try shapes(attrs, x: x.shape, features: f.shape)
        let (hw, o1) = s.height.multipliedReportingOverflow(by: s.width)
        let (count, o2) = hw.multipliedReportingOverflow(by: s.labels)
        guard !o1, !o2, count <= Int(Int32.max) * 64 else { throw OpError("output [1, \(s.labels), \(s.height), \(s.width)] is too large") }
        return [TypedShape(.float32, [1, s.labels, s.height, s.width])]
    }

    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        guard case .normalizedProjection(let attrs) = op, inputs.count == 2, let x = inputs[0], let f = inputs[1],
              let (s, plan) = try? shapes(attrs, x: x.shape, features: f.shape) else { return 0 }
        return NormalizedProjectionKernels.workspaceBytes(s, plan: plan, attrs)
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard case .normalizedProjection(let attrs) = op else { throw OpError("\(op.typeName) is not NormalizedProjection") }
        guard inputs.count == 2, let x = inputs[0], let f = inputs[1], let y = outputs.first else {
            throw OpError("needs inputs x and features and one output")
        }
        guard x.dtype == .float32, f.dtype == .float32, y.dtype == .float32 else {
            throw OpError("supports float32 only (got x \(x.dtype), features \(f.dtype), output \(y.dtype))")
        }
        let (s, plan) = try shapes(attrs, x: x.shape, features: f.shape)
        guard y.shape == [1, s.labels, s.height, s.width] else {
            throw OpError("output \(y.shape) does not match the computed [1, \(s.labels), \(s.height), \(s.width)]")
        }
        try NormalizedProjectionKernels.run(s, plan: plan, attrs, x: UnsafePointer(x.pointer(Float.self)),
                                            features: UnsafePointer(f.pointer(Float.self)), y: y.pointer(Float.self), ctx)
    }
}
