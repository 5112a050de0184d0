import XCTest
@testable import Runtime
import TestSupport

final class PoolingTests: XCTestCase {
    private var rng = SeededRandom(seed: 0x900_1)

    private func random(_ shape: [Int]) -> Tensor { .float32(rng.floats(Tensor.elementCount(shape)), shape: shape) }

    func testHandComputed() throws {
        let x = Tensor.float32((1...16).map(Float.init), shape: [1, 1, 4, 4])
        let maxY = try Eval.evaluate(.maxPool(PoolAttrs(kernelShape: [2, 2], strides: [2, 2])), [x])[0]
        XCTAssertEqual(maxY.shape, [1, 1, 2, 2])
        XCTAssertEqual(maxY.scalars(as: Float.self), [6, 8, 14, 16])
        let avgY = try Eval.evaluate(.averagePool(PoolAttrs(kernelShape: [2, 2], strides: [2, 2])), [x])[0]
        XCTAssertEqual(avgY.scalars(as: Float.self), [3.5, 5.5, 11.5, 13.5])
        // 3x3 window, pad 1: the top-left window holds 1, 2, 5, 6 (4 inputs, 9 taps with padding).
        let p = PoolAttrs(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        XCTAssertEqual(try Eval.evaluate(.averagePool(p), [x])[0].scalars(as: Float.self)[0], 3.5)
        var inc = p; inc.countIncludePad = true
        XCTAssertEqual(try Eval.evaluate(.averagePool(inc), [x])[0].scalars(as: Float.self)[0], 14.0 / 9.0)
    }

    func testCeilModeShapes() throws {
        // 5 wide, kernel 2, stride 2: floor gives 2, ceil gives 3 (last window half outside).
        XCTAssertEqual(try Pooling.geometry([1, 1, 5, 5], PoolAttrs(kernelShape: [2, 2], strides: [2, 2], ceilMode: true), name: "p").outSpatial, [3, 3])
        XCTAssertEqual(try Pooling.geometry([1, 1, 5, 5], PoolAttrs(kernelShape: [2, 2], strides: [2, 2]), name: "p").outSpatial, [2, 2])
        // 4 wide, k 2, s 2, pad 1+1: ceil keeps 3 windows, the last starting at 3 inside the input.
        XCTAssertEqual(try Pooling.geometry([1, 1, 4, 4], PoolAttrs(kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true), name: "p").outSpatial, [3, 3])
        // 3 wide, k 3, s 2, pad 1+2: ceil would give 3, but the third window would start at 3, in
        // the end padding, so it is dropped.
        XCTAssertEqual(try Pooling.geometry([1, 1, 3, 3], PoolAttrs(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 2, 2], ceilMode: true), name: "p").outSpatial, [2, 2])
        XCTAssertEqual(try Pooling.geometry([1, 1, 7, 8], PoolAttrs(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameUpper), name: "p").outSpatial, [4, 4])
    }

    func testAgainstReference() throws {
        let cases: [([Int], PoolAttrs)] = [
            ([1, 3, 7, 6], PoolAttrs(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
            ([2, 2, 9, 8], PoolAttrs(kernelShape: [3, 2], strides: [2, 3], pads: [2, 0, 1, 1], dilations: [2, 1])),
            ([1, 2, 5, 7], PoolAttrs(kernelShape: [2, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true)),
            ([1, 2, 5, 7], PoolAttrs(kernelShape: [2, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true, countIncludePad: true)),
            ([1, 1, 7, 8], PoolAttrs(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameLower, countIncludePad: true)),
            ([1, 1, 7, 8], PoolAttrs(kernelShape: [3, 3], strides: [2, 2], autoPad: .valid)),
            ([1, 1, 1, 1], PoolAttrs(kernelShape: [1, 1])),
            ([1, 32, 20, 20], PoolAttrs(kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])),
        ]
        for (shape, attrs) in cases {
            let x = random(shape)
            for isMax in [true, false] {
                let op: Op = isMax ? .maxPool(attrs) : .averagePool(attrs)
                let g = try Pooling.geometry(shape, attrs, name: "p")
                var expected = [Float](repeating: 0, count: Tensor.elementCount(g.output))
                let xs = x.scalars(as: Float.self)
                xs.withUnsafeBufferPointer { xp in
                    expected.withUnsafeMutableBufferPointer { yp in
                        PoolingKernels.referencePool(g, isMax: isMax, countIncludePad: attrs.countIncludePad, x: xp.baseAddress!,
                                                     y: yp.baseAddress!, planes: 0..<(shape[0] * shape[1]))
                    }
                }
                let y = try Eval.evaluate(op, [x], threads: 2)[0]
                XCTAssertEqual(y.shape, g.output)
                assertClose(y.scalars(), expected, rtol: 1e-6, atol: 1e-6, "\(op.typeName) \(shape) \(attrs)")
            }
        }
    }

    func testOneAndThreeDimensionalPooling() throws {
        // 1-D max with stride 2 by hand; 3-D average against a hand sum of a 2x2x2 cube.
        let x1 = Tensor.float32([3, 1, 4, 1, 5, 9, 2], shape: [1, 1, 7])
        XCTAssertEqual(try Eval.evaluate(.maxPool(PoolAttrs(kernelShape: [3], strides: [2])), [x1])[0].scalars(as: Float.self), [4, 5, 9])
        let x3 = Tensor.float32((0..<8).map(Float.init), shape: [1, 1, 2, 2, 2])
        let y3 = try Eval.evaluate(.averagePool(PoolAttrs(kernelShape: [2, 2, 2])), [x3])[0]
        XCTAssertEqual(y3.shape, [1, 1, 1, 1, 1])
        XCTAssertEqual(y3.scalars(as: Float.self), [3.5])
    }

    /// Constants printed by scripts/heavy-ops-ort-values.py (ONNX Runtime 1.32): ceil mode drops
    /// the 4th window, count_include_pad counts padding but not the ceil overhang.
    func testMatchesOnnxRuntimeCeilModeAverage() throws {
        let x = Tensor.float32((0..<25).map(Float.init), shape: [1, 1, 5, 5])
        let attrs = PoolAttrs(kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true, countIncludePad: true)
        let y = try Eval.evaluate(.averagePool(attrs), [x])[0]
        XCTAssertEqual(y.shape, [1, 1, 3, 3])
        assertClose(y.scalars(), [0.0, 0.75, 1.75, 3.75, 9.0, 11.0, 8.75, 19.0, 21.0], rtol: 1e-6, atol: 1e-6)
    }

    func testErrors() {
        func message(_ op: Op, _ x: Tensor) -> String {
            do { _ = try Eval.evaluate(op, [x], node: "p1"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(.maxPool(PoolAttrs(kernelShape: [3])), random([1, 1, 4, 4])).contains("kernel_shape"))
        XCTAssertTrue(message(.maxPool(PoolAttrs(kernelShape: [2, 2], pads: [2, 0, 0, 0])), random([1, 1, 4, 4])).contains("smaller than the kernel"))
        XCTAssertTrue(message(.averagePool(PoolAttrs(kernelShape: [5, 5])), random([1, 1, 4, 4])).contains("exceeds padded input"))
        XCTAssertTrue(message(.maxPool(PoolAttrs(kernelShape: [2, 2])), random([4, 4])).contains("[N, C, spatial...]"))
    }
}
