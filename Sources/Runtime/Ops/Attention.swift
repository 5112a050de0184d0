/// Attributes of `.attention`, fused multi-head self-attention (see `Op.attention`).
public struct AttentionAttrs: Sendable, Equatable, Codable {
    /// Number of heads H; the head width is C / H where 3 C is the input's last dimension.
    public var heads: Int
    /// Multiplies the scores q . k before the softmax (1 / sqrt(D) in a ViT).
    public var scale: Float

    public init(heads: Int, scale: Float) { self.heads = heads; self.scale = scale }

    private enum CodingKeys: String, CodingKey { case heads, scale }

    /// Decodes and validates, so a pack with bad attributes fails when read, naming the fault.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        heads = try c.decode(Int.self, forKey: .heads)
        scale = try c.decode(Float.self, forKey: .scale)
        if let problem = self.problem {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "Attention: \(problem)"))
        }
    }

    /// What is wrong with these attributes, or nil when they are valid.
    public var problem: String? {
        guard heads > 0, heads <= 65_536 else { return "heads \(heads) must be in 1...65536" }
        guard scale.isFinite else { return "scale \(scale) is not finite" }
        return nil
    }
}

/// Shape inference, workspace and dispatch of `.attention`; the kernels are in AttentionKernels.
enum Attention {
    struct Shapes: Equatable {
        var batch: Int, tokens: Int, heads: Int, headDim: Int
        var width: Int { heads * headDim }
    }

    static func shapes(_ attrs: AttentionAttrs, qkv: [Int]) throws -> Shapes {
        if let p = attrs.problem { throw OpError(p) }
        guard qkv.count == 3, qkv.allSatisfy({ $0 >= 0 }) else { throw OpError("input must be [B, N, 3 * C] (got \(qkv))") }
        let (b, n, w) = (qkv[0], qkv[1], qkv[2])
        guard w % (3 * attrs.heads) == 0 else {
            throw OpError("input width \(w) is not 3 x \(attrs.heads) heads x a head width (input \(qkv))")
        }
        let s = Shapes(batch: b, tokens: n, heads: attrs.heads, headDim: w / (3 * attrs.heads))
        let (bn, o1) = b.multipliedReportingOverflow(by: n)
        let (elements, o2) = bn.multipliedReportingOverflow(by: w)
        guard !o1, !o2, elements <= Int(Int32.max) * 64 else { throw OpError("input \(qkv) is too large") }
        return s
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard case .attention(let attrs) = op else { throw OpError("\(op.typeName) is not Attention") }
        guard inputs.count == 1, let x = inputs[0] else { throw OpError("needs one input, the packed qkv") }
        guard x.dtype == .float32 else { throw OpError("supports float32 only (got \(x.dtype))") }
        let s = try shapes(attrs, qkv: x.shape)
        return [TypedShape(.float32, [s.batch, s.tokens, s.width])]
    }

    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        guard case .attention(let attrs) = op, inputs.count == 1, let x = inputs[0],
              let s = try? shapes(attrs, qkv: x.shape) else { return 0 }
        return AttentionKernels.Tiling(s).workspaceBytes
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard case .attention(let attrs) = op else { throw OpError("\(op.typeName) is not Attention") }
        guard inputs.count == 1, let x = inputs[0], let y = outputs.first else {
            throw OpError("needs one input (the packed qkv) and one output")
        }
        guard x.dtype == .float32, y.dtype == .float32 else {
            throw OpError("supports float32 only (got input \(x.dtype), output \(y.dtype))")
        }
        let s = try shapes(attrs, qkv: x.shape)
        guard y.shape == [s.batch, s.tokens, s.width] else {
            throw OpError("output \(y.shape) does not match the computed [\(s.batch), \(s.tokens), \(s.width)]")
        }
        try AttentionKernels.run(s, scale: attrs.scale, qkv: UnsafePointer(x.pointer(Float.self)), y: y.pointer(Float.self), ctx)
    }
}
