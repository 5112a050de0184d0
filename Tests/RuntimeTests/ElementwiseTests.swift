import CKernels
import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class ElementwiseTests: XCTestCase {
    // MARK: Hand-computed cases

    func testArithmeticWithBroadcasting() throws {
        let a = f32([1, 2, 3, 4, 5, 6], [2, 3]), b = f32([10, 20, 30], [3])
        XCTAssertEqual(floats(try eval1(.add, [a, b])), [11, 22, 33, 14, 25, 36])
        XCTAssertEqual(floats(try eval1(.sub, [b, a])), [9, 18, 27, 6, 15, 24])
        XCTAssertEqual(floats(try eval1(.mul, [a, f32([2], [])])), [2, 4, 6, 8, 10, 12])
        XCTAssertEqual(floats(try eval1(.div, [f32([1, 2], [2, 1]), f32([4, 8], [1, 2])])), [0.25, 0.125, 0.5, 0.25])
        XCTAssertEqual(floats(try eval1(.pow, [f32([2, 3], [2]), f32([2], [1])])), [4, 9])
        XCTAssertEqual(floats(try eval1(.pow, [f32([2, 3], [2]), i64([3], [])])), [8, 27])
        XCTAssertEqual(try eval1(.add, [a, b]).shape, [2, 3])
    }

    func testIntegerSemantics() throws {
        let a = i64([7, -7, 7, -7], [4]), b = i64([2, 2, -2, -2], [4])
        XCTAssertEqual(try eval1(.div, [a, b]).scalars(as: Int64.self), [3, -3, -3, 3])
        XCTAssertEqual(try eval1(.mod(fmod: false), [a, b]).scalars(as: Int64.self), [1, 1, -1, -1])
        XCTAssertEqual(try eval1(.mod(fmod: true), [a, b]).scalars(as: Int64.self), [1, -1, 1, -1])
        XCTAssertEqual(try eval1(.mod(fmod: false), [i64([-7, 7], [2]), i64([3, -3], [2])]).scalars(as: Int64.self), [2, -2])
        XCTAssertEqual(try eval1(.mul, [i32([3, -4], [2]), i32([5], [1])]).scalars(as: Int32.self), [15, -20])
        XCTAssertEqual(try eval1(.div, [i64([5], [1]), i64([0], [1])]).scalars(as: Int64.self), [0], "no trap on division by zero")
        XCTAssertEqual(floats(try eval1(.mod(fmod: true), [f32([-7.5, 7.5], [2]), f32([2], [1])])), [-1.5, 1.5])
    }

    func testComparisonsAndLogic() throws {
        let a = f32([1, 2, 3], [3]), b = f32([2], [])
        XCTAssertEqual(boolValues(try eval1(.equal, [a, b])), [false, true, false])
        XCTAssertEqual(boolValues(try eval1(.less, [a, b])), [true, false, false])
        XCTAssertEqual(boolValues(try eval1(.greater, [a, b])), [false, false, true])
        XCTAssertEqual(boolValues(try eval1(.lessOrEqual, [a, b])), [true, true, false])
        XCTAssertEqual(boolValues(try eval1(.greaterOrEqual, [a, b])), [false, true, true])
        XCTAssertEqual(try eval1(.equal, [i64([4, 5], [2]), i64([5], [1])]).dtype, .bool)
        XCTAssertEqual(boolValues(try eval1(.equal, [i64([4, 5], [2]), i64([5], [1])])), [false, true])
        let p = bools([true, true, false, false], [4]), q = bools([true, false, true, false], [4])
        XCTAssertEqual(boolValues(try eval1(.and, [p, q])), [true, false, false, false])
        XCTAssertEqual(boolValues(try eval1(.or, [p, q])), [true, true, true, false])
        XCTAssertEqual(boolValues(try eval1(.xor, [p, q])), [false, true, true, false])
        XCTAssertEqual(boolValues(try eval1(.not, [p])), [false, false, true, true])
    }

    func testWhereMaxMinClip() throws {
        let c = bools([true, false], [2, 1])
        let r = try eval1(.where, [c, f32([1, 2, 3], [3]), f32([-1], [])])
        XCTAssertEqual(r.shape, [2, 3])
        XCTAssertEqual(floats(r), [1, 2, 3, -1, -1, -1])
        XCTAssertEqual(try eval1(.where, [bools([false, true], [2]), i64([1, 2], [2]), i64([9, 9], [2])]).scalars(as: Int64.self), [9, 2])
        XCTAssertEqual(floats(try eval1(.max, [f32([1, 5], [2]), f32([3], [1]), f32([0, 4, 9, 2], [2, 2])])), [3, 5, 9, 5])
        XCTAssertEqual(floats(try eval1(.min, [f32([1, 5], [2]), f32([3], [1])])), [1, 3])
        XCTAssertEqual(floats(try eval1(.max, [f32([1, 5], [2])])), [1, 5])
        XCTAssertEqual(try eval1(.max, [i64([1, 7], [2]), i64([4], [1])]).scalars(as: Int64.self), [4, 7])
        XCTAssertEqual(floats(try eval1(.clip, [f32([-2, 0.5, 9], [3]), nil, f32([1], [])])), [-2, 0.5, 1])
        XCTAssertEqual(floats(try eval1(.clip, [f32([-2, 0.5, 9], [3]), f32([0], []), f32([6], [])])), [0, 0.5, 6])
        XCTAssertEqual(try eval1(.clip, [i64([-5, 3, 50], [3]), i64([0], []), i64([10], [])]).scalars(as: Int64.self), [0, 3, 10])
    }

    func testUnaryValues() throws {
        let x = f32([-1, 0, 1, 2], [4])
        assertClose(floats(try eval1(.gelu(tanh: false), [x])), [-0.15865526, 0, 0.8413447, 1.9544997], rtol: 1e-6)
        assertClose(floats(try eval1(.gelu(tanh: true), [x])), [-0.15880801, 0, 0.841192, 1.9545977], rtol: 1e-6)
        assertClose(floats(try eval1(.quickGelu, [x])), [-0.15420423, 0, 0.8457958, 1.9356586], rtol: 1e-6)
        assertClose(floats(try eval1(.erf, [x])), [-0.8427008, 0, 0.8427008, 0.9953223], rtol: 1e-6)
        assertClose(floats(try eval1(.sigmoid, [x])), [0.26894142, 0.5, 0.7310586, 0.8807971], rtol: 1e-6)
        XCTAssertEqual(floats(try eval1(.relu, [x])), [0, 0, 1, 2])
        XCTAssertEqual(floats(try eval1(.leakyRelu(alpha: 0.1), [x])), [-0.1, 0, 1, 2])
        XCTAssertEqual(floats(try eval1(.neg, [x])), [1, 0, -1, -2])
        XCTAssertEqual(floats(try eval1(.abs, [x])), [1, 0, 1, 2])
        XCTAssertEqual(floats(try eval1(.floor, [f32([-1.5, 1.5], [2])])), [-2, 1])
        XCTAssertEqual(floats(try eval1(.ceil, [f32([-1.5, 1.5], [2])])), [-1, 2])
        XCTAssertEqual(floats(try eval1(.sqrt, [f32([4, 9], [2])])), [2, 3])
        XCTAssertEqual(floats(try eval1(.reciprocal, [f32([4, -0.5], [2])])), [0.25, -2])
        XCTAssertEqual(try eval1(.abs, [i64([-3, 4], [2])]).scalars(as: Int64.self), [3, 4])
        XCTAssertEqual(try eval1(.neg, [i32([-3, 4], [2])]).scalars(as: Int32.self), [3, -4])
        XCTAssertEqual(floats(try eval1(.exp, [f32([0, -.infinity, .infinity], [3])])), [1, 0, .infinity])
    }

    func testCast() throws {
        XCTAssertEqual(try eval1(.cast(to: .int64), [f32([-1.7, 1.7, 2.5, -0.2], [4])]).scalars(as: Int64.self), [-1, 1, 2, 0])
        XCTAssertEqual(boolValues(try eval1(.cast(to: .bool), [f32([0, -0.0, 0.1, .nan], [4])])), [false, false, true, true])
        XCTAssertEqual(floats(try eval1(.cast(to: .float32), [bools([true, false], [2])])), [1, 0])
        XCTAssertEqual(try eval1(.cast(to: .int32), [i64([5, -6, 1 << 33], [3])]).scalars(as: Int32.self), [5, -6, 0])
        XCTAssertEqual(floats(try eval1(.cast(to: .float16), [i64([3, -2048], [2])])), [3, -2048])
        XCTAssertEqual(try eval1(.cast(to: .int64), [f16([-3.5, 70], [2])]).scalars(as: Int64.self), [-3, 70])
        XCTAssertEqual(floats(try eval1(.cast(to: .float32), [f16([0.1], [1])])), [Float(Float16(0.1))])
        XCTAssertEqual(try eval1(.cast(to: .uint8), [f32([300, -1], [2])]).scalars(as: UInt8.self), [44, 255])
        XCTAssertEqual(try eval1(.cast(to: .int64), [f32([.nan, 1e30], [2])]).scalars(as: Int64.self), [0, Int64.max], "no trap")
        XCTAssertEqual(try eval1(.cast(to: .float32), [f32([1.5], [1])]).scalars(as: Float.self), [1.5])
    }

    func testIdentityCopiesOrAliases() throws {
        let x = f32([1, 2, 3], [3])
        XCTAssertEqual(floats(try eval1(.identity, [x])), [1, 2, 3])
        // Output memory aliasing the input: nothing to do, nothing broken.
        let v = TensorView(x)
        try Op.identity.run([v], [v], ExecContext(threads: 1), node: "alias")
        XCTAssertEqual(floats(x), [1, 2, 3])
    }

    func testErrors() {
        assertOpError(.add, [f32([1, 2], [2]), f32([1, 2, 3], [3])], "do not broadcast")
        assertOpError(.add, [f32([1], [1]), i64([1], [1])], "different types")
        assertOpError(.where, [f32([1], [1]), f32([1], [1]), f32([1], [1])], "condition must be bool")
        assertOpError(.sqrt, [i64([1], [1])], "float")
        assertOpError(.and, [f32([1], [1]), f32([1], [1])], "bool")
        assertOpError(.add, [f32([1], [1])], "input 1 is missing")
    }

    // MARK: Optimized paths against scalar references

    /// Random broadcast shapes in both directions, float32 and float16, single and multi-threaded.
    func testBinaryMatchesNaiveBroadcast() throws {
        var rng = SeededRandom(seed: 11)
        let ops: [(Op, (Float, Float) -> Float)] = [(.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }),
                                                    (.div, { $0 / $1 }), (.max, { Swift.max($0, $1) }), (.min, { Swift.min($0, $1) }),
                                                    (.pow, { powf(Swift.abs($0), $1) })]
        for trial in 0..<120 {
            let (sa, sb) = randomBroadcastPair(&rng)
            let out = try Broadcast.shape(sa, sb)
            let (op, f) = ops[trial % ops.count]
            var va = rng.floats(Tensor.elementCount(sa), -2, 2)
            let vb = rng.floats(Tensor.elementCount(sb), 0.5, 2)
            if op == .pow { va = va.map { Swift.abs($0) } }
            let idx = allIndices(out)
            let expected = idx.map { f(va[broadcastIndex($0, sa, out)], vb[broadcastIndex($0, sb, out)]) }
            let got = try eval1(op, [f32(va, sa), f32(vb, sb)], threads: trial % 3 + 1)
            XCTAssertEqual(got.shape, out)
            assertClose(floats(got), expected, rtol: 1e-6, atol: 0, "\(op) \(sa) \(sb)")
            // float16: inputs rounded to half, computed in float, rounded once.
            let ha = Float16Conversion.toFloat(Float16Conversion.toHalf(va)), hb = Float16Conversion.toFloat(Float16Conversion.toHalf(vb))
            let hExpected = Float16Conversion.toFloat(Float16Conversion.toHalf(idx.map {
                f(ha[broadcastIndex($0, sa, out)], hb[broadcastIndex($0, sb, out)]) }))
            let hGot = try eval1(op, [f16(va, sa), f16(vb, sb)], threads: 2)
            assertClose(floats(hGot), hExpected, rtol: 1e-3, atol: 0, "f16 \(op) \(sa) \(sb)")
        }
    }

    /// Large tensors take the multithreaded split of one long run and of many rows.
    func testLargeBinaryThreaded() throws {
        var rng = SeededRandom(seed: 3)
        let a = rng.floats(3 * 50_001), b = rng.floats(50_001)
        let got = floats(try eval1(.mul, [f32(a, [3, 50_001]), f32(b, [50_001])], threads: 4))
        XCTAssertEqual(got, (0..<a.count).map { a[$0] * b[$0 % 50_001] })
        let s = floats(try eval1(.add, [f32(a, [a.count]), f32([0.5], [])], threads: 3))
        XCTAssertEqual(s, a.map { $0 + 0.5 })
    }

    /// The vectorized transcendental loops (AVX2 and portable builds) against libm.
    func testVectorizedUnaryMatchesReference() {
        var rng = SeededRandom(seed: 5)
        var x = rng.floats(5000, -12, 12) + rng.floats(2000, -1.2, 1.2) + rng.floats(500, -0.01, 0.01)
        x += [0, -0.0, 1e-30, -1e-30, 0.625, -0.625, 1, -1, 4, -4, 3.99, 20, -20, 88, -88, 88.8, -88.8, 100, -100,
              .infinity, -.infinity, 0.6249999, 0.9999999, 1.0000001]
        let cases: [(lseg_unary_op, UnaryFloatOp, Float, Float)] = [
            (LSEG_UN_EXP, .exp, 2e-7, 3e-45), (LSEG_UN_SIGMOID, .sigmoid, 2e-7, 1e-7), (LSEG_UN_TANH, .tanh, 5e-7, 1e-7),
            (LSEG_UN_ERF, .erf, 5e-7, 1e-7), (LSEG_UN_GELU_ERF, .geluErf, 1e-6, 1e-6), (LSEG_UN_GELU_TANH, .geluTanh, 1e-6, 1e-6),
            (LSEG_UN_QUICK_GELU, .quickGelu, 1e-6, 1e-6), (LSEG_UN_RELU, .relu, 0, 0), (LSEG_UN_SQRT, .sqrt, 0, 0),
            (LSEG_UN_RECIPROCAL, .reciprocal, 0, 0),
        ]
        for (c, op, rtol, atol) in cases {
            let input = op == .sqrt ? x.map { Swift.abs($0) } : x
            let expected = input.map { ElementwiseKernels.unaryReference(op, $0) }
            for simd: Int32 in [0, 1] {
                var y = [Float](repeating: 0, count: input.count)
                lseg_unary_f32_variant(Int32(c.rawValue), input, &y, input.count, simd)
                assertClose(y, expected, rtol: rtol, atol: atol, "\(op) simd \(simd)")
                // In place (the activation after a GEMM) takes its own loop: same bits.
                var inPlace = input
                inPlace.withUnsafeMutableBufferPointer { p in
                    lseg_unary_f32_variant(Int32(c.rawValue), p.baseAddress, p.baseAddress, p.count, simd)
                }
                XCTAssertEqual(inPlace.map(\.bitPattern), y.map(\.bitPattern), "\(op) simd \(simd) in place")
            }
        }
        var y = [Float](repeating: 0, count: 3)
        lseg_unary_f32(Int32(LSEG_UN_EXP.rawValue), [Float.nan, 1, .nan], &y, 3)
        XCTAssertTrue(y[0].isNaN && y[2].isNaN)
        XCTAssertEqual(y[1], expf(1), accuracy: 1e-6)
    }

    // MARK: float16 conversion

    /// Every half widens exactly and narrows back to itself; rounding agrees with Swift's Float16.
    func testFloat16ConversionExhaustiveAndRounding() {
        let all = (0...0xFFFF).map { UInt16($0) }
        let wide = Float16Conversion.toFloat(all)
        for (h, f) in zip(all, wide) {
            let ref = Float(Float16(bitPattern: h))
            if ref.isNaN { XCTAssertTrue(f.isNaN); continue }
            XCTAssertEqual(f.bitPattern, ref.bitPattern, "half \(h)")
            XCTAssertEqual(Float16Conversion.float(fromBits: h).bitPattern, ref.bitPattern)
        }
        let back = Float16Conversion.toHalf(wide)
        for (h, b) in zip(all, back) where !wide[Int(h)].isNaN { XCTAssertEqual(h, b) }
        var rng = SeededRandom(seed: 9)
        var samples: [Float] = (0..<20_000).map { _ in Float(bitPattern: UInt32.random(in: 0..<0x8000_0000, using: &rng) | (Bool.random(using: &rng) ? 0x8000_0000 : 0)) }
        samples += [65504, 65519.99, 65520, 1e-8, 2.98e-8, 2.9802322e-8, 5.9604645e-8, 6.1035156e-5, 0.1, 1.0009766, 1.0004883, 1.0014648]
        samples = samples.filter { !$0.isNaN }
        let vec = Float16Conversion.toHalf(samples)
        for (f, h) in zip(samples, vec) {
            XCTAssertEqual(h, Float16(f).bitPattern, "\(f)")
            XCTAssertEqual(Float16Conversion.bits(from: f), Float16(f).bitPattern, "\(f) scalar")
        }
    }
}
