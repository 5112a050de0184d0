import CKernels
import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class NormalizationTests: XCTestCase {
    func testSoftmaxHandComputed() throws {
        let e = [expf(1), expf(2), expf(3)], s = e.reduce(0, +)
        assertClose(floats(try eval1(.softmax(axis: -1), [f32([1, 2, 3], [1, 3])])), e.map { $0 / s }, rtol: 1e-6)
        // Masked entries give 0; a fully masked row gives NaN (as ONNX Runtime), without crashing.
        let m = floats(try eval1(.softmax(axis: 1), [f32([0, -.infinity, 0, -.infinity, -.infinity, -.infinity], [2, 3])]))
        XCTAssertEqual(Array(m[0..<3]), [0.5, 0, 0.5])
        XCTAssertTrue(m[3...].allSatisfy(\.isNaN))
        // Along a middle axis.
        let mid = floats(try eval1(.softmax(axis: 1), [f32([0, 10, 0, 10], [1, 2, 2])]))
        assertClose(mid, [0.5, 0.5, 0.5, 0.5])
        assertClose(floats(try eval1(.softmax(axis: 0), [f16([1, 1], [2])])), [0.5, 0.5])
    }

    func testSoftmaxRowsMatchReference() throws {
        var rng = SeededRandom(seed: 31)
        for n in [1, 2, 7, 8, 9, 31, 77, 768] {
            var x = rng.floats(3 * n, -20, 20)
            if n > 2 { x[1] = -.infinity; x[n + 2] = -.infinity }
            let expected = NormalizationKernels.softmaxReference(x, rowLength: n)
            assertClose(floats(try eval1(.softmax(axis: -1), [f32(x, [3, n])], threads: 2)), expected, rtol: 1e-6, atol: 1e-8, "n \(n)")
        }
        // Non-last axis equals transposing, softmax on the last axis, and transposing back.
        let x = rng.floats(2 * 5 * 3, -3, 3)
        let direct = try eval1(.softmax(axis: 1), [f32(x, [2, 5, 3])])
        let t = try eval1(.transpose(perm: [0, 2, 1]), [f32(x, [2, 5, 3])])
        let viaLast = try eval1(.transpose(perm: [0, 2, 1]), [try eval1(.softmax(axis: -1), [t])])
        assertClose(floats(direct), floats(viaLast), rtol: 1e-6)
    }

    func testLayerNormMatchesReference() throws {
        var rng = SeededRandom(seed: 41)
        for (rows, n) in [(1, 1), (3, 7), (5, 8), (2, 33), (4, 768), (1, 1025)] {
            let x = rng.floats(rows * n, -3, 5), scale = rng.floats(n, 0.5, 1.5), bias = rng.floats(n)
            let expected = NormalizationKernels.layerNormReference(x, rowLength: n, scale: scale, bias: bias, epsilon: 1e-5)
            let got = try eval1(.layerNorm(axis: -1, epsilon: 1e-5), [f32(x, [rows, n]), f32(scale, [n]), f32(bias, [n])], threads: 2)
            assertClose(floats(got), expected, rtol: 1e-5, atol: 1e-5, "rows \(rows) n \(n)")
            let noBias = NormalizationKernels.layerNormReference(x, rowLength: n, scale: scale, bias: nil, epsilon: 1e-5)
            assertClose(floats(try eval1(.layerNorm(axis: 1, epsilon: 1e-5), [f32(x, [rows, n]), f32(scale, [n]), nil])), noBias,
                        rtol: 1e-5, atol: 1e-5)
        }
        // Normalizing over two axes with a scale that broadcasts.
        let x = rng.floats(2 * 3 * 4)
        let got = try eval1(.layerNorm(axis: 1, epsilon: 1e-6), [f32(x, [2, 3, 4]), f32([2], [1])])
        let expected = NormalizationKernels.layerNormReference(x, rowLength: 12, scale: [Float](repeating: 2, count: 12), bias: nil, epsilon: 1e-6)
        assertClose(floats(got), expected, rtol: 1e-5, atol: 1e-5)
        let half = try eval1(.layerNorm(axis: -1, epsilon: 1e-5), [f16(x, [6, 4]), f32([1, 1, 1, 1], [4])])
        let hx = Float16Conversion.toFloat(Float16Conversion.toHalf(x))
        assertClose(floats(half), NormalizationKernels.layerNormReference(hx, rowLength: 4, scale: [1, 1, 1, 1], bias: nil, epsilon: 1e-5),
                    rtol: 2e-3, atol: 2e-3)
        assertOpError(.layerNorm(axis: -1, epsilon: 1e-5), [f32(x, [6, 4]), f32([1, 1, 1], [3])], "does not broadcast")
    }

    func testBatchNorm() throws {
        let x = f32([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2])
        let r = try eval1(.batchNorm(epsilon: 0), [x, f32([1, 2], [2]), f32([0, 1], [2]), f32([2, 6], [2]), f32([4, 1], [2])])
        assertClose(floats(r), [-0.5, 0, 0.5, 1, -1, 1, 3, 5])
        assertOpError(.batchNorm(epsilon: 0), [x, f32([1], [1]), f32([0, 1], [2]), f32([2, 6], [2]), f32([4, 1], [2])], "expected [2]")
    }
}
