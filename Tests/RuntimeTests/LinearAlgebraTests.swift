import XCTest
@testable import Runtime
import TestSupport

final class LinearAlgebraTests: XCTestCase {
    private var rng = SeededRandom(seed: 0x11_AB)

    private func random(_ shape: [Int]) -> Tensor { .float32(rng.floats(Tensor.elementCount(shape)), shape: shape) }

    private func run(_ op: Op, _ inputs: [Tensor?], threads: Int = 2) throws -> Tensor {
        try Eval.evaluate(op, inputs, threads: threads)[0]
    }

    func testMatMulHandComputed() throws {
        let a = Tensor.float32([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor.float32([7, 8, 9, 10, 11, 12], shape: [3, 2])
        let y = try run(.matMul, [a, b])
        XCTAssertEqual(y.shape, [2, 2])
        XCTAssertEqual(y.scalars(as: Float.self), [58, 64, 139, 154])
    }

    func testMatMulShapesAgainstReference() throws {
        let cases: [([Int], [Int])] = [
            ([3, 5], [5, 4]), ([2, 3, 5], [5, 4]), ([2, 1, 3, 5], [1, 4, 5, 2]), ([5], [5, 4]), ([3, 5], [5]),
            ([5], [5]), ([2, 3, 5], [2, 5, 4]), ([1, 3, 5], [5, 1]), ([4, 7, 1, 6], [7, 6, 3]), ([3, 1], [1, 4]),
            ([2, 3, 7, 4], [2, 3, 4, 7]), ([6], [2, 6, 3]), ([1, 1, 5], [3, 1, 5, 2]), ([2, 3, 5], [1, 5, 4]),
        ]
        for (sa, sb) in cases {
            let a = random(sa), b = random(sb)
            let (expected, shape) = try XCTUnwrap(GemmKernels.referenceMatMul(a.scalars(), sa, b.scalars(), sb))
            for threads in [1, 2] {
                let y = try run(.matMul, [a, b], threads: threads)
                XCTAssertEqual(y.shape, shape, "\(sa) x \(sb)")
                assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "\(sa) x \(sb)")
            }
        }
    }

    /// Products of several times GemmKernels.splitMinimum are split over the workers along the
    /// longer of m and n (OpenBLAS itself single-threaded): every layout, odd sizes, and split output equal
    /// to the one-call output bit for bit (splitting must not change any output's sum over k).
    func testSplitProductsMatchOneCallAndTheReference() throws {
        // Shapes whose parts are each above the split minimum (3 parts at most for these).
        let shapes = [(145, 768, 300), (300, 200, 57), (17, 129, 1500), (1000, 64, 60), (200, 1100, 15)]
        for (m, k, n) in shapes {
            XCTAssertGreaterThanOrEqual(m * n * k, 3 * GemmKernels.splitMinimum, "\(m)x\(k)x\(n) must take the split")
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = rng.floats(m * k), b = rng.floats(k * n)
                var expected = [Float](repeating: 0, count: m * n)
                GemmKernels.referenceGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a,
                                          lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: 0, c: &expected, ldc: n)
                var outputs: [[Float]] = []
                for threads in [1, 2, 3] {
                    var c = [Float](repeating: .nan, count: m * n)
                    try a.withUnsafeBufferPointer { ap in
                        try b.withUnsafeBufferPointer { bp in
                            try c.withUnsafeMutableBufferPointer { cp in
                                try GemmKernels.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                                                      a: ap.baseAddress!, lda: transA ? m : k, b: bp.baseAddress!,
                                                      ldb: transB ? k : n, beta: 0, c: cp.baseAddress!, ldc: n, threads: threads)
                            }
                        }
                    }
                    assertClose(c, expected, rtol: 1e-4, atol: 1e-4, "\(m)x\(k)x\(n) \(transA) \(transB) threads \(threads)")
                    outputs.append(c)
                }
                for (i, workers) in [(1, 2), (2, 3)] {
                    let differing = zip(outputs[i], outputs[0]).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(m)x\(k)x\(n) \(transA) \(transB): \(workers) workers vs one call")
                }
            }
        }
    }

    func testMatMulEmptyInnerDimensionGivesZeros() throws {
        let y = try run(.matMul, [Tensor.float32([], shape: [2, 0]), Tensor.float32([], shape: [0, 3])])
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(y.scalars(as: Float.self), [Float](repeating: 0, count: 6))
    }

    func testMatMulFloat16ComputesInFloat32() throws {
        let sa = [2, 3, 9], sb = [9, 5]
        let af = rng.floats(54).map { Float(Float16($0)) }, bf = rng.floats(45).map { Float(Float16($0)) }
        let a = Tensor(dtype: .float16, shape: sa, scalars: af.map { Float16($0).bitPattern })
        let b = Tensor(dtype: .float16, shape: sb, scalars: bf.map { Float16($0).bitPattern })
        let y = try run(.matMul, [a, b])
        XCTAssertEqual(y.dtype, .float16)
        let got = y.scalars(as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
        let (expected, _) = try XCTUnwrap(GemmKernels.referenceMatMul(af, sa, bf, sb))
        // The only error left is rounding the float32 result to float16 (half an ulp, 2^-11 relative).
        assertClose(got, expected.map { Float(Float16($0)) }, rtol: 0, atol: 0)
    }

    func testGemmTransposesAlphaBetaAndBroadcastC() throws {
        let (m, k, n) = (5, 7, 3)
        for transA in [false, true] {
            for transB in [false, true] {
                for cShape in [nil, [], [n], [1, n], [m, 1], [m, n]] as [[Int]?] {
                    let attrs = GemmAttrs(alpha: 0.5, beta: cShape == nil ? 1 : 2, transA: transA, transB: transB)
                    let a = random(transA ? [k, m] : [m, k]), b = random(transB ? [n, k] : [k, n])
                    let c = cShape.map { random($0) }
                    let y = try run(.gemm(attrs), [a, b, c])
                    // Reference: C broadcast by hand, then the plain-loop gemm.
                    var expected = [Float](repeating: 0, count: m * n)
                    if let c, let cShape {
                        let cs = c.scalars(as: Float.self)
                        let s = [Int](repeating: 1, count: 2 - cShape.count) + cShape
                        for i in 0..<m { for j in 0..<n { expected[i * n + j] = cs[(s[0] == 1 ? 0 : i) * s[1] + (s[1] == 1 ? 0 : j)] } }
                    }
                    GemmKernels.referenceGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                                              a: a.scalars(), lda: transA ? m : k, b: b.scalars(), ldb: transB ? k : n,
                                              beta: c == nil ? 0 : 2, c: &expected, ldc: n)
                    XCTAssertEqual(y.shape, [m, n])
                    assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "transA \(transA) transB \(transB) C \(String(describing: cShape))")
                }
            }
        }
    }

    func testLinearWithBiasAndEveryActivation() throws {
        let activations: [Activation] = [.none, .relu, .gelu, .quickGelu, .leakyRelu(alpha: 0.1)]
        for xShape in [[2, 5, 6], [6], [1, 6]] {
            for transB in [false, true] {
                for withBias in [false, true] {
                    for act in activations {
                        let n = 4
                        let x = random(xShape), w = random(transB ? [n, 6] : [6, n])
                        let bias = withBias ? random([n]) : nil
                        let y = try run(.linear(LinearAttrs(transB: transB, activation: act)), [x, w, bias])
                        let rows = Tensor.elementCount(Array(xShape.dropLast()))
                        var expected = [Float](repeating: 0, count: rows * n)
                        GemmKernels.referenceGemm(transA: false, transB: transB, m: rows, n: n, k: 6, alpha: 1,
                                                  a: x.scalars(), lda: 6, b: w.scalars(), ldb: transB ? 6 : n,
                                                  beta: 0, c: &expected, ldc: n)
                        let bs = bias?.scalars(as: Float.self)
                        for i in 0..<expected.count { expected[i] = GemmKernels.referenceActivation(expected[i] + (bs?[i % n] ?? 0), act) }
                        XCTAssertEqual(y.shape, Array(xShape.dropLast()) + [n])
                        assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "\(xShape) transB \(transB) bias \(withBias) \(act)")
                    }
                }
            }
        }
    }

    func testFusedGeluMatchesErfFormulaAtKnownPoints() {
        // gelu(1) = 0.8413447, gelu(-1) = -0.1586553; quickGelu(1) = 1 / (1 + e^-1.702) = 0.8457957
        var v: [Float] = [1, -1, 1]
        v.withUnsafeMutableBufferPointer { p in
            GemmKernels.biasActivation(p.baseAddress!, rows: 1, cols: 2, ld: 2, colBias: nil, rowBias: nil, .gelu, ExecContext(threads: 1))
            GemmKernels.biasActivation(p.baseAddress! + 2, rows: 1, cols: 1, ld: 1, colBias: nil, rowBias: nil, .quickGelu, ExecContext(threads: 1))
        }
        assertClose(v, [0.8413447, -0.1586553, 0.8457957], rtol: 1e-6, atol: 1e-6)
    }

    func testErrorsNameTheMismatch() {
        func message(_ op: Op, _ inputs: [Tensor?]) -> String {
            do { _ = try Eval.evaluate(op, inputs, node: "n1"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(.matMul, [random([2, 3]), random([4, 2])]).contains("inner dimensions differ"))
        XCTAssertTrue(message(.matMul, [random([2, 2, 3]), random([3, 3, 4])]).contains("do not broadcast"))
        XCTAssertTrue(message(.gemm(GemmAttrs()), [random([2, 3]), random([2, 4])]).contains("inner dimensions differ"))
        XCTAssertTrue(message(.gemm(GemmAttrs()), [random([2, 3]), random([3, 4]), random([3, 4])]).contains("does not broadcast"))
        XCTAssertTrue(message(.linear(LinearAttrs(transB: true)), [random([2, 3]), random([3, 4])]).contains("does not match weight"))
        XCTAssertTrue(message(.linear(LinearAttrs()), [random([2, 3]), random([3, 4]), random([5])]).contains("bias"))
        XCTAssertTrue(message(.matMul, [Tensor.int64([1], shape: [1, 1]), Tensor.int64([1], shape: [1, 1])]).contains("float32"))
        XCTAssertTrue(message(.matMul, [random([2, 3]), random([4, 2])]).hasPrefix("node 'n1' (MatMul)"))
    }
}
