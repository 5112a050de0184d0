import XCTest
import CKernels
@testable import Runtime
import TestSupport

/// `.attention`, fused self-attention over a packed qkv tensor: every code variant (portable,
/// AVX2, AVX-512) and thread count against the unfused composition of the runtime's own ops.
///
/// Tolerance: both sides compute the same scaled scores and the same exponentials, but sum the N
/// softmax terms and the N products of P V in different orders (16 lanes vs 8, fused
/// multiply-add chains vs the MatMul kernel's blocking) and normalise after instead of before
/// the weighted sum. Each output is a convex combination of values |v| <= 1, so reassociation
/// moves it by at most about (N + D + 8) float epsilons; that worst case is the bound.
final class AttentionOpTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xA7F0)

    private func bound(tokens: Int, headDim: Int) -> Float { Float(tokens + headDim + 8) * Float.ulpOfOne }

    private func fused(_ s: Attention.Shapes, scale: Float, qkv: Tensor, threads: Int, variant: Int32) throws -> [Float] {
        let y = Tensor(dtype: .float32, shape: [s.batch, s.tokens, s.width])
        let bytes = AttentionKernels.Tiling(s).workspaceBytes
        let scratch = TensorStorage(byteCount: max(bytes, 64))
        let ctx = ExecContext(threads: threads, workspace: scratch.pointer, workspaceBytes: bytes)
        try AttentionKernels.run(s, scale: scale, qkv: UnsafePointer(qkv.data.assumingMemoryBound(to: Float.self)),
                                 y: y.data.assumingMemoryBound(to: Float.self), ctx, variant: variant)
        return y.scalars(as: Float.self)
    }

    func testMatchesUnfusedReferenceAcrossShapesVariantsAndThreads() throws {
        // (batch, tokens, heads, head width)
        let cases = [(1, 1, 1, 64), (1, 7, 3, 64), (2, 7, 2, 8), (1, 145, 12, 64), (2, 33, 4, 24), (1, 17, 16, 5),
                     (1, 577, 2, 64), (2, 40, 1, 1)]
        for (b, n, h, d) in cases {
            let s = Attention.Shapes(batch: b, tokens: n, heads: h, headDim: d)
            let scale = 1 / Float(d).squareRoot()
            // Large enough scores that the softmax is far from uniform.
            let qkv = Tensor.float32(rng.floats(b * n * 3 * h * d, -2, 2), shape: [b, n, 3 * h * d])
            let v = qkv.scalars(as: Float.self).enumerated().filter { ($0.offset % (3 * h * d)) >= 2 * h * d }.map(\.element)
            let vMax = v.map(abs).max() ?? 1
            let expected = try AttentionKernels.reference(heads: h, scale: scale, qkv: qkv)
            XCTAssertEqual(expected.shape, [b, n, h * d])
            let e = expected.scalars(as: Float.self)
            for variant: Int32 in [0, 1, 2] {
                for threads in [1, 2, 3] {
                    let y = try fused(s, scale: scale, qkv: qkv, threads: threads, variant: variant)
                    assertClose(y, e, rtol: 0, atol: bound(tokens: n, headDim: d) * vMax,
                                "b \(b) n \(n) h \(h) d \(d) variant \(variant) threads \(threads)")
                }
            }
            // Through the op dispatch as Session runs it.
            let y = try Eval.evaluate(.attention(AttentionAttrs(heads: h, scale: scale)), [qkv], threads: 2)[0]
            XCTAssertEqual(y.shape, [b, n, h * d])
            assertClose(y.scalars(as: Float.self), e, rtol: 0, atol: bound(tokens: n, headDim: d) * vMax, "Eval b \(b) n \(n)")
        }
    }

    func testNegativeScaleAndNonFiniteScores() throws {
        let s = Attention.Shapes(batch: 1, tokens: 9, heads: 2, headDim: 4)
        var x = rng.floats(9 * 24, -1, 1)
        let clean = Tensor.float32(x, shape: [1, 9, 24])
        let expected = try AttentionKernels.reference(heads: 2, scale: -0.7, qkv: clean).scalars(as: Float.self)
        assertClose(try fused(s, scale: -0.7, qkv: clean, threads: 1, variant: 2), expected, rtol: 0,
                    atol: bound(tokens: 9, headDim: 4))
        // A NaN in token 3's key of head 0 poisons every query row of head 0 (as the unfused
        // softmax does) and no row of head 1.
        x[3 * 24 + 8 + 1] = .nan
        let y = try fused(s, scale: 0.5, qkv: .float32(x, shape: [1, 9, 24]), threads: 1, variant: 2)
        let ref = try AttentionKernels.reference(heads: 2, scale: 0.5, qkv: .float32(x, shape: [1, 9, 24])).scalars(as: Float.self)
        for i in 0..<9 {
            for j in 0..<4 { XCTAssertTrue(y[i * 8 + j].isNaN && ref[i * 8 + j].isNaN, "row \(i)") }
            for j in 4..<8 { XCTAssertFalse(y[i * 8 + j].isNaN, "row \(i) head 1") }
        }
    }

    func testShapeErrorsAndAttributeValidation() throws {
        func fails(_ attrs: AttentionAttrs, _ shape: [Int], _ text: String) {
            XCTAssertThrowsError(try Op.attention(attrs).inferOutputs([ShapeInput(dtype: .float32, shape: shape)], node: "a")) {
                XCTAssertTrue("\($0)".contains(text), "\($0)")
            }
        }
        fails(AttentionAttrs(heads: 4, scale: 1), [1, 5, 30], "not 3 x 4 heads")
        fails(AttentionAttrs(heads: 2, scale: 1), [5, 12], "[B, N, 3 * C]")
        fails(AttentionAttrs(heads: 0, scale: 1), [1, 5, 12], "heads 0")
        fails(AttentionAttrs(heads: 1, scale: .nan), [1, 5, 12], "not finite")
        XCTAssertThrowsError(try Op.attention(AttentionAttrs(heads: 1, scale: 1))
            .inferOutputs([ShapeInput(dtype: .float16, shape: [1, 2, 3])], node: "a"))
        let out = try Op.attention(AttentionAttrs(heads: 2, scale: 1)).inferOutputs([ShapeInput(dtype: .float32, shape: [2, 5, 24])], node: "a")
        XCTAssertEqual(out, [TypedShape(.float32, [2, 5, 8])])
        XCTAssertEqual(try Eval.evaluate(.attention(AttentionAttrs(heads: 2, scale: 1)), [.float32([], shape: [1, 0, 12])])[0].shape, [1, 0, 4])
    }

    func testPackRoundTripAndBadAttributesRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let attrs = AttentionAttrs(heads: 2, scale: 0.125)
        var g = Graph(name: "image")
        g.inputs = [ValueInfo(name: "qkv", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(12)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        g.nodes = [Node(name: "attn", op: .attention(attrs), inputs: ["qkv"], outputs: ["y"])]
        let url = dir.appendingPathComponent("m.pack")
        try Pack.write(Model(graphs: [g]), to: url.path)
        XCTAssertEqual(try Pack.read(url.path).graphs[0].nodes[0].op, .attention(attrs))
        // Attributes are checked when decoded: a bad one names the op and the fault.
        for (bad, text) in [(AttentionAttrs(heads: -1, scale: 1), "Attention: heads -1"),
                            (AttentionAttrs(heads: 70_000, scale: 1), "Attention: heads 70000")] {
            XCTAssertThrowsError(try JSONDecoder().decode(Op.self, from: try JSONEncoder().encode(Op.attention(bad)))) {
                XCTAssertTrue("\($0)".contains(text), "\($0)")
            }
        }
    }
}
