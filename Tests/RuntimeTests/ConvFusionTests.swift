import XCTest
@testable import Runtime
import TestSupport

/// Conv's fused extras (ConvAttrs.preActivation and .residual) on every conv path and on QConv:
/// the same values as the unfused ops run one after the other, and clear errors for bad inputs.
final class ConvFusionTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xF05E)

    private func random(_ shape: [Int]) -> Tensor { .float32(rng.floats(Tensor.elementCount(shape)), shape: shape) }

    /// (Relu) -> Conv -> (Add residual) -> activation as separate ops, as `attrs` asks.
    private func unfused(_ attrs: ConvAttrs, _ x: Tensor, _ w: Tensor, _ b: Tensor?, _ r: Tensor) throws -> Tensor {
        var plain = attrs
        plain.preActivation = .none; plain.residual = false; plain.activation = .none
        let xr = attrs.preActivation == .relu ? try Eval.evaluate(.relu, [x])[0] : x
        let y = try Eval.evaluate(.conv(plain), [xr, w, b], threads: 2)[0]
        let sum = attrs.residual ? try Eval.evaluate(.add, [y, r])[0] : y
        switch attrs.activation {
        case .none: return sum
        case .relu: return try Eval.evaluate(.relu, [sum])[0]
        case .leakyRelu(let alpha): return try Eval.evaluate(.leakyRelu(alpha: alpha), [sum])[0]
        case .gelu: return try Eval.evaluate(.gelu(tanh: false), [sum])[0]
        case .quickGelu: return try Eval.evaluate(.quickGelu, [sum])[0]
        }
    }

    func testFusedConvMatchesTheUnfusedOpsOnEveryPath() throws {
        struct Case { var x: [Int]; var w: [Int]; var attrs: ConvAttrs; var path: Convolution.ConvPath; var bias = true }
        let cases = [
            Case(x: [1, 16, 24, 24], w: [16, 16, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1]), path: .winograd),
            Case(x: [1, 16, 24, 24], w: [16, 16, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], activation: .relu), path: .winograd,
                 bias: false),
            Case(x: [2, 8, 11, 9], w: [6, 8, 3, 3], attrs: ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1]), path: .im2col),
            Case(x: [1, 8, 12, 12], w: [8, 8, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], activation: .gelu), path: .im2col),
            Case(x: [1, 12, 7, 5], w: [10, 12, 1, 1], attrs: ConvAttrs(activation: .leakyRelu(alpha: 0.2)), path: .pointwise),
            Case(x: [1, 6, 9, 9], w: [6, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 6, activation: .relu),
                 path: .depthwise),
        ]
        for c in cases {
            let g = try Convolution.convGeometry(c.x, c.w, c.attrs)
            XCTAssertEqual(Convolution.convPath(g), c.path, "\(c.x) \(c.w)")
            let x = random(c.x), w = random(c.w), b = c.bias ? random([c.w[0]]) : nil, r = random(g.output)
            for (pre, res) in [(true, true), (true, false), (false, true)] {
                var attrs = c.attrs
                attrs.preActivation = pre ? .relu : .none
                attrs.residual = res
                let inputs: [Tensor?] = res ? [x, w, b, r] : [x, w, b]
                let fused = try Eval.evaluate(.conv(attrs), inputs, threads: 2)[0]
                XCTAssertEqual(fused.shape, g.output)
                let expected = try unfused(attrs, x, w, b, r)
                if c.path == .winograd {
                    // Winograd adds bias and residual inside its output transform: rounding differs
                    // from the separate Add; bound it by the output scale as the Winograd tests do.
                    let scale = floats(expected).map(abs).max() ?? 0
                    assertClose(floats(fused), floats(expected), rtol: 0, atol: 1e-5 * scale, "\(c.path) pre \(pre) res \(res)")
                } else {
                    // The other paths run the very same ops in the same order: the same bits.
                    XCTAssertEqual(floats(fused), floats(expected), "\(c.path) pre \(pre) res \(res)")
                }
                // And the double-precision reference.
                let reference = ConvolutionKernels.referenceConv(g, x: floats(x), weight: floats(w), bias: b.map(floats),
                                                                 residual: res ? floats(r) : nil, preRelu: pre,
                                                                 activation: attrs.activation)
                let scale = reference.map(abs).max() ?? 0
                assertClose(floats(fused), reference, rtol: 0, atol: 1e-5 * scale, "reference \(c.path) pre \(pre) res \(res)")
            }
        }
    }

    func testFusedQConvMatchesTheUnfusedOps() throws {
        var gen = SeededRandom(seed: 77)
        for (xs, ws, base) in [([1, 8, 10, 12], [8, 8, 3, 3], ConvAttrs(pads: [1, 1, 1, 1])),
                               ([1, 6, 5, 7], [4, 6, 1, 1], ConvAttrs(activation: .relu))] {
            let n = ws[0]
            let wq = (0..<Tensor.elementCount(ws)).map { _ in Int8(Int.random(in: -127...127, using: &gen)) }
            let scales = (0..<n).map { _ in Float.random(in: 0.001..<0.02, using: &gen) }
            var w = Tensor(dtype: .int8, shape: ws, scalars: wq)
            w.quant = QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: n), axis: 0)
            let x = Tensor.float32(gen.floats(Tensor.elementCount(xs), -1, 1), shape: xs)
            let g = try Convolution.convGeometry(xs, ws, base)
            let r = Tensor.float32(gen.floats(Tensor.elementCount(g.output)), shape: g.output)
            let b = Tensor.float32(gen.floats(n), shape: [n])
            // Zero point 0 (as calibrated for a pre-ReLU conv: the quantization is the ReLU) and 100.
            for q in [QuantParams(scales: [1.0 / 255], zeroPoints: [0]), QuantParams(scales: [2.0 / 255], zeroPoints: [100])] {
                var attrs = base
                attrs.preActivation = .relu
                attrs.residual = true
                let fused = try Eval.evaluate(.qConv(QConvAttrs(conv: attrs, input: q)), [x, w, b, r], threads: 2)[0]
                var plain = base
                plain.activation = .none
                let xr = try Eval.evaluate(.relu, [x])[0]
                let y = try Eval.evaluate(.qConv(QConvAttrs(conv: plain, input: q)), [xr, w, b], threads: 2)[0]
                var expected = try Eval.evaluate(.add, [y, r])[0]
                if base.activation == .relu { expected = try Eval.evaluate(.relu, [expected])[0] }
                XCTAssertEqual(floats(fused), floats(expected), "\(xs) \(ws) \(q)")
            }
        }
    }

    /// A session's context is shared by its steps: the ReLU'd copy a non-Winograd conv keeps in
    /// the workspace must not shrink the workspace the later steps (here a Winograd conv) get.
    func testSessionRunsFusedConvsRepeatedly() throws {
        let pre = ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1], preActivation: .relu)       // im2col
        let wino = ConvAttrs(pads: [1, 1, 1, 1], preActivation: .relu, residual: true)         // Winograd
        let g = Graph(name: "g", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, 16, 48, 48].map { .fixed($0) })],
                      outputs: [ValueInfo(name: "z", dtype: .float32, shape: [1, 16, 24, 24].map { .fixed($0) })], nodes: [
            Node(name: "down", op: .conv(pre), inputs: ["x", "W1", "b1"], outputs: ["y"]),
            Node(name: "unit", op: .conv(wino), inputs: ["y", "W2", "", "y"], outputs: ["z"]),
        ], initializers: ["W1": random([16, 16, 3, 3]), "b1": random([16]), "W2": random([16, 16, 3, 3])])
        let session = Session(plan: try Plan(graph: g, inputShapes: ["x": [1, 16, 48, 48]]), threads: 2)
        let x = random([1, 16, 48, 48])
        let first = try session.run(["x": x])["z"]!
        let second = try session.run(["x": x])["z"]!
        XCTAssertEqual(floats(first), floats(second))
        let y = try Eval.evaluate(.conv(pre), [x, g.initializers["W1"], g.initializers["b1"]], threads: 2)[0]
        let z = try Eval.evaluate(.conv(wino), [y, g.initializers["W2"], nil, y], threads: 2)[0]
        XCTAssertEqual(floats(first), floats(z))
    }

    func testBadFusedInputsAreErrorsNamingTheProblem() {
        let x = random([1, 4, 6, 6]), w = random([4, 4, 3, 3]), b = random([4])
        let pads = ConvAttrs(pads: [1, 1, 1, 1])
        var residual = pads
        residual.residual = true
        assertOpError(.conv(residual), [x, w, b], "input 3")
        assertOpError(.conv(residual), [x, w, b, random([1, 4, 5, 6])], "residual [1, 4, 5, 6] must have the output's shape")
        assertOpError(.conv(pads), [x, w, b, random([1, 4, 6, 6])], "at most 3 inputs")
        var gelu = pads
        gelu.preActivation = .gelu
        assertOpError(.conv(gelu), [x, w, b], "preActivation must be none or relu")
        let transpose = ConvTransposeAttrs(conv: residual)
        assertOpError(.convTranspose(transpose), [x, random([4, 4, 3, 3]), b], "ConvTranspose takes no preActivation or residual")
    }

    func testAttributesRoundTripAndOldPacksStillRead() throws {
        let plain = ConvAttrs(pads: [1, 1, 1, 1], activation: .relu)
        let plainJSON = String(decoding: try JSONCoding.encode(plain), as: UTF8.self)
        XCTAssertFalse(plainJSON.contains("preActivation") || plainJSON.contains("residual"),
                       "unset fusions are not written: \(plainJSON)")
        XCTAssertEqual(try JSONCoding.decode(ConvAttrs.self, from: Array(plainJSON.utf8)), plain)
        let fused = ConvAttrs(pads: [1, 1, 1, 1], activation: .relu, preActivation: .relu, residual: true)
        XCTAssertEqual(try JSONCoding.decode(ConvAttrs.self, from: try JSONCoding.encode(fused)), fused)
        let bad = plainJSON.replacingOccurrences(of: "}", with: ",\"preActivation\":{\"gelu\":{}}}", options: .backwards,
                                                 range: plainJSON.range(of: "}", options: .backwards))
        XCTAssertThrowsError(try JSONCoding.decode(ConvAttrs.self, from: Array(bad.utf8))) {
            XCTAssert("\($0)".contains("preActivation"), "\($0)")
        }
    }
}
