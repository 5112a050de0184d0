import XCTest
import Runtime
import TestSupport
@testable import Quantize

/// ConvTranspose in int8: non-overlapping windows (DPT's reassemble upsamplings) become
/// qConvTranspose, which must compute what the float ConvTranspose computes on the
/// fake-quantized input and the dequantized weight; other ConvTransposes keep int8 weights only.
final class ConvTransposeQuantizeTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xC7)

    /// x quantized and dequantized with (scale, zero point) as qConvTranspose's input stage does.
    private func fakeQuantized(_ x: [Float], _ scale: Float, _ zp: Int32) -> [Float] {
        x.map { v in
            let q = min(max((v / scale).rounded(.toNearestOrEven) + Float(zp), 0), 255)
            return (q - Float(zp)) * scale
        }
    }

    func testQConvTransposeMatchesFloatOnQuantizedOperands() throws {
        // (N, Cin, H, W, Cout, kh, kw): DPT-like 4x4 and 2x2, odd sizes, one channel.
        let cases = [(1, 16, 3, 5, 8, 4, 4), (2, 9, 4, 3, 5, 2, 2), (1, 1, 2, 2, 3, 2, 3), (1, 32, 6, 6, 32, 2, 2)]
        for (n, cin, h, w, cout, kh, kw) in cases {
            let x = rng.floats(n * cin * h * w).map { $0 * 3 }
            let weight = Tensor.float32(rng.floats(cin * cout * kh * kw), shape: [cin, cout, kh, kw])
            let bias = rng.floats(cout)
            let rows = WeightQuantization.int8(Int8Rewrite.convTransposeRows(weight), axis: 0)
            let (scale, zp): (Float, Int32) = (6.0 / 255, 120)
            for activation in [Activation.none, .relu] {
                let attrs = QConvTransposeAttrs(kernel: [kh, kw], input: QuantParams(scales: [scale], zeroPoints: [zp]), activation: activation)
                let y = try Eval.evaluate(.qConvTranspose(attrs), [.float32(x, shape: [n, cin, h, w]), rows, .float32(bias, shape: [cout])],
                                          threads: 2)[0]
                XCTAssertEqual(y.shape, [n, cout, h * kh, w * kw])
                // The same product in float: dequantized rows back in ONNX layout, fake-quantized x.
                let d = WeightQuantization.dequantized(rows), kk = kh * kw
                var onnx = [Float](repeating: 0, count: d.count)
                for c in 0..<cin { for o in 0..<cout { for t in 0..<kk { onnx[(c * cout + o) * kk + t] = d[(o * kk + t) * cin + c] } } }
                let conv = ConvAttrs(kernelShape: [kh, kw], strides: [kh, kw], activation: activation)
                let expected = try Eval.evaluate(.convTranspose(ConvTransposeAttrs(conv: conv)),
                                                 [.float32(fakeQuantized(x, scale, zp), shape: [n, cin, h, w]),
                                                  .float32(onnx, shape: [cin, cout, kh, kw]), .float32(bias, shape: [cout])])[0]
                assertClose(y.scalars(), expected.scalars(), rtol: 1e-5, atol: 1e-5, "\(n) \(cin) \(h)x\(w) -> \(cout) k\(kh)x\(kw) \(activation)")
            }
        }
    }

    func testRewriteTakesOnlyNonOverlappingConvTranspose() throws {
        var g = Graph(name: "g", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(3), .fixed(3)])])
        g.initializers["w"] = .float32(rng.floats(4 * 6 * 2 * 2), shape: [4, 6, 2, 2])
        g.initializers["b"] = .float32(rng.floats(6), shape: [6])
        g.initializers["w3"] = .float32(rng.floats(6 * 2 * 3 * 3), shape: [6, 2, 3, 3])
        let up = ConvTransposeAttrs(conv: ConvAttrs(kernelShape: [2, 2], strides: [2, 2]))
        let overlapping = ConvTransposeAttrs(conv: ConvAttrs(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1]))
        g.nodes = [Node(name: "up", op: .convTranspose(up), inputs: ["x", "w", "b"], outputs: ["u"]),
                   Node(name: "overlap", op: .convTranspose(overlapping), inputs: ["u", "w3"], outputs: ["y"])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        let candidates = Int8Rewrite.candidates(g)
        XCTAssertEqual(candidates.map(\.node), ["up"])
        XCTAssertEqual(candidates.first?.op, "ConvTranspose")
        var q = g
        let done = Int8Rewrite.apply(&q, ranges: ["up": ClipRange(lower: -2, upper: 2)])
        XCTAssertEqual(done, ["up"])
        let upNode = try XCTUnwrap(q.nodes.first { $0.name == "up" })
        guard case .qConvTranspose(let a) = upNode.op else { return XCTFail("up is \(upNode.op.typeName)") }
        XCTAssertEqual(a.kernel, [2, 2])
        XCTAssertEqual(q.initializers[upNode.inputs[1]]?.shape, [6 * 4, 4])
        XCTAssertEqual(q.initializers[upNode.inputs[1]]?.dtype, .int8)
        XCTAssertNil(q.initializers["w"], "the float weight is gone")
        // The overlapping one stays a float ConvTranspose with int8-weights storage.
        let overlapNode = try XCTUnwrap(q.nodes.first { $0.name == "overlap" })
        guard case .convTranspose = overlapNode.op else { return XCTFail("overlap is \(overlapNode.op.typeName)") }
        // And the emulation lowers qConvTranspose back to a float ConvTranspose computing the same.
        let lowered = Int8Emulation.lower(q)
        XCTAssertFalse(lowered.nodes.contains { if case .qConvTranspose = $0.op { return true }; return false })
    }

    func testShapeErrorsNameTheProblem() {
        let attrs = QConvTransposeAttrs(kernel: [2, 2], input: QuantParams(scales: [0.1], zeroPoints: [128]))
        let x = Tensor.float32(rng.floats(1 * 4 * 2 * 2), shape: [1, 4, 2, 2])
        let bad = WeightQuantization.int8(.float32(rng.floats(7 * 4), shape: [7, 4]), axis: 0)
        XCTAssertThrowsError(try Eval.evaluate(.qConvTranspose(attrs), [x, bad])) { e in
            XCTAssertTrue("\(e)".contains("weight must be [Cout * 2 * 2, 4]"), "\(e)")
        }
        let badKernel = QConvTransposeAttrs(kernel: [2], input: attrs.input)
        let w = WeightQuantization.int8(.float32(rng.floats(8 * 4), shape: [8, 4]), axis: 0)
        XCTAssertThrowsError(try Eval.evaluate(.qConvTranspose(badKernel), [x, w])) { e in
            XCTAssertTrue("\(e)".contains("kernel [2] must be two sizes"), "\(e)")
        }
    }
}
