import XCTest
import CKernels
@testable import Runtime
import TestSupport

/// The attention-sized batched MatMul kernel and the softmax row sum: correct against the scalar
/// references, and unchanged by a tail of masked (zero-weight / -inf score) positions, which is
/// what makes causal truncation of the text tower bit-exact.
final class AttentionKernelTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xA77E)

    func testSmallBatchedMatMulMatchesReference() throws {
        for (sa, sb) in [([8, 77, 64], [8, 64, 77]), ([8, 77, 77], [8, 77, 64]), ([3, 5, 1, 7], [3, 5, 7, 9]),
                         ([2, 13, 3], [2, 3, 1]), ([4, 1, 6], [4, 6, 5])] {
            let a = Tensor.float32(rng.floats(Tensor.elementCount(sa)), shape: sa)
            let b = Tensor.float32(rng.floats(Tensor.elementCount(sb)), shape: sb)
            let y = try Eval.evaluate(.matMul, [a, b], threads: 2)[0]
            let (expected, shape) = try XCTUnwrap(GemmKernels.referenceMatMul(a.scalars(), sa, b.scalars(), sb))
            XCTAssertEqual(y.shape, shape)
            assertClose(y.scalars(as: Float.self), expected, rtol: 1e-5, atol: 1e-5)
        }
    }

    /// P [B, s, s] (causal weights) times V [B, s, d] at s = 77 and at a shorter s: the common
    /// rows agree bit for bit.
    func testWeightedSumIgnoresZeroTailBitExactly() throws {
        let batch = 6, full = 77, d = 64
        var p = [Float](repeating: 0, count: batch * full * full)
        for t in 0..<batch { for i in 0..<full { for j in 0...i { p[(t * full + i) * full + j] = Float.random(in: 0..<1, using: &rng) } } }
        let v = rng.floats(batch * full * d)
        let yFull = try Eval.evaluate(.matMul, [.float32(p, shape: [batch, full, full]), .float32(v, shape: [batch, full, d])], threads: 2)[0]
        let yf = yFull.scalars(as: Float.self)
        for s in [1, 5, 8, 17, 76] {
            var ps = [Float](), vs = [Float]()
            for t in 0..<batch {
                for i in 0..<s { ps += p[((t * full + i) * full)..<((t * full + i) * full + s)] }
                vs += v[(t * full * d)..<((t * full + s) * d)]
            }
            let y = try Eval.evaluate(.matMul, [.float32(ps, shape: [batch, s, s]), .float32(vs, shape: [batch, s, d])], threads: 2)[0]
            let ys = y.scalars(as: Float.self)
            for t in 0..<batch { for i in 0..<s { for k in 0..<d {
                XCTAssertEqual(ys[(t * s + i) * d + k].bitPattern, yf[(t * full + i) * d + k].bitPattern, "s \(s) batch \(t) row \(i)")
            } } }
        }
    }

    /// Softmax of a causally masked row: the same bits whatever the row length beyond the diagonal.
    func testSoftmaxIgnoresMaskedTailBitExactly() throws {
        let full = 77
        var scores = [Float](repeating: -.infinity, count: full * full)
        for i in 0..<full { for j in 0...i { scores[i * full + j] = Float.random(in: -6..<6, using: &rng) } }
        let yFull = try Eval.evaluate(.softmax(axis: -1), [.float32(scores, shape: [full, full])])[0].scalars(as: Float.self)
        assertClose(yFull, NormalizationKernels.softmaxReference(scores, rowLength: full), rtol: 1e-5, atol: 1e-7)
        for s in [1, 3, 8, 9, 16, 17, 40] {
            var cut = [Float]()
            for i in 0..<s { cut += scores[(i * full)..<(i * full + s)] }
            let y = try Eval.evaluate(.softmax(axis: -1), [.float32(cut, shape: [s, s])])[0].scalars(as: Float.self)
            for i in 0..<s { for j in 0..<s {
                XCTAssertEqual(y[i * s + j].bitPattern, yFull[i * full + j].bitPattern, "length \(s) row \(i) col \(j)")
            } }
        }
    }

    /// The register-blocked tiles (AVX-512 8x32, AVX2 6x16, portable 4x8) and the plain edge loop
    /// give every output the same bits as one fused multiply-add per k in order from zero, at the
    /// ViT's attention sizes (145 tokens, head width 64) and at sizes off every blocking.
    func testBlockedTilesMatchInOrderFusedSumsBitExactly() {
        for (m, k, n) in [(145, 64, 145), (145, 145, 64), (8, 5, 32), (9, 3, 33), (17, 70, 31), (1, 1, 1), (6, 16, 16)] {
            let a = rng.floats(m * k), b = rng.floats(k * n)
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s = s.addingProduct(a[i * k + p], b[p * n + j]) }
                expected[i * n + j] = s
            } }
            // Variants this CPU lacks fall back to a lower one (still checked).
            for variant: Int32 in [0, 1, 2] {
                var c = [Float](repeating: .nan, count: m * n)
                lseg_small_matmul_f32_variant(variant, a, k, b, n, &c, n, m, k, n)
                XCTAssertEqual(c.map(\.bitPattern), expected.map(\.bitPattern), "variant \(variant) \(m)x\(k)x\(n)")
            }
        }
    }
}
