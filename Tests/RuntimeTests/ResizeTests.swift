import XCTest
@testable import Runtime
import TestSupport

final class ResizeTests: XCTestCase {
    private var rng = SeededRandom(seed: 0x5E_512E)

    private func random(_ shape: [Int]) -> Tensor { .float32(rng.floats(Tensor.elementCount(shape)), shape: shape) }

    private func resize(_ x: Tensor, _ attrs: ResizeAttrs, scales: [Float]? = nil, sizes: [Int]? = nil, roi: [Float]? = nil,
                        threads: Int = 2) throws -> Tensor {
        let roiT = roi.map { Tensor.float32($0, shape: [$0.count]) }
        let scalesT = scales.map { Tensor.float32($0, shape: [$0.count]) } ?? Tensor.float32([], shape: [0])
        let sizesT = sizes.map { Tensor.int64($0.map(Int64.init), shape: [$0.count]) }
        return try Eval.evaluate(.resize(attrs), [x, roiT, scalesT, sizesT], threads: threads)[0]
    }

    /// The separable reference over the same tap tables (exercised on every shape).
    private func reference(_ x: Tensor, _ attrs: ResizeAttrs, scales: [Float]?, sizes: [Int]?) throws -> [Float] {
        let p = try ResizeOp.plan(x.shape, roi: nil, scales: scales, sizes: sizes, attrs)
        let taps = (0..<x.rank).map { ResizeKernels.axisTaps(p, axis: $0, attrs) }
        var y = [Float](repeating: 0, count: Tensor.elementCount(p.output))
        let xs = x.scalars(as: Float.self)
        xs.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                ResizeKernels.separable(p, taps, attrs.extrapolationValue, x: xp.baseAddress!, y: yp.baseAddress!, range: 0..<yp.count)
            }
        }
        return y
    }

    func testBilinearHandComputed() throws {
        let x = Tensor.float32([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let aligned = try resize(x, ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners), scales: [1, 1, 1.5, 1.5])
        XCTAssertEqual(aligned.shape, [1, 1, 3, 3])
        assertClose(aligned.scalars(), [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], rtol: 0, atol: 1e-6)
        // half_pixel scale 2 along a row [1, 2]: source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
        let row = try resize(Tensor.float32([1, 2], shape: [1, 1, 1, 2]), ResizeAttrs(mode: .linear), scales: [1, 1, 1, 2])
        assertClose(row.scalars(), [1, 1.25, 1.75, 2], rtol: 0, atol: 1e-6)
    }

    func testNearestModes() throws {
        let x = Tensor.float32([10, 11, 12, 13], shape: [1, 4])
        let up = try resize(Tensor.float32([1, 2], shape: [1, 2]), ResizeAttrs(coordinateTransformation: .asymmetric, nearestMode: .floor), scales: [1, 2])
        XCTAssertEqual(up.scalars(as: Float.self), [1, 1, 2, 2])
        // Down by 2 with half_pixel: source x = 0.5 and 2.5, exactly between two inputs.
        XCTAssertEqual(try resize(x, ResizeAttrs(nearestMode: .roundPreferFloor), sizes: [1, 2]).scalars(as: Float.self), [10, 12])
        XCTAssertEqual(try resize(x, ResizeAttrs(nearestMode: .roundPreferCeil), sizes: [1, 2]).scalars(as: Float.self), [11, 13])
        XCTAssertEqual(try resize(x, ResizeAttrs(nearestMode: .ceil), sizes: [1, 2]).scalars(as: Float.self), [11, 13])
        XCTAssertEqual(try resize(x, ResizeAttrs(coordinateTransformation: .alignCorners), sizes: [1, 3]).scalars(as: Float.self), [10, 11, 13])  // x = 0, 1.5, 3
    }

    func testCubicReproducesARampInTheInterior() throws {
        let x = Tensor.float32((0..<8).map(Float.init), shape: [1, 8])
        let y = try resize(x, ResizeAttrs(mode: .cubic, coordinateTransformation: .asymmetric), scales: [1, 2]).scalars(as: Float.self)
        XCTAssertEqual(y.count, 16)
        // Source x = o / 2; taps floor(x)-1 ... floor(x)+2 all inside for x in [1, 5].
        for o in 2...10 { XCTAssertEqual(y[o], Float(o) / 2, accuracy: 1e-5, "output \(o)") }
        // Cubic weights sum to 1 at any fraction.
        for r: Float in [0, 0.25, 0.5, 0.9] { XCTAssertEqual(ResizeKernels.cubicWeights(r, -0.75).reduce(0, +), 1, accuracy: 1e-6) }
        // exclude_outside renormalizes at the border, so a constant stays constant.
        let c = try resize(Tensor.float32([5, 5, 5], shape: [1, 3]), ResizeAttrs(mode: .cubic, excludeOutside: true), scales: [1, 3])
        assertClose(c.scalars(), [Float](repeating: 5, count: 9), rtol: 0, atol: 1e-5)
    }

    func testFastBilinearMatchesReference() throws {
        let cases: [([Int], ResizeAttrs, [Float]?, [Int]?)] = [
            ([1, 3, 5, 7], ResizeAttrs(mode: .linear), nil, [1, 3, 11, 4]),
            ([2, 2, 6, 5], ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners), [1, 1, 2, 2], nil),
            ([1, 2, 6, 5], ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners), [1, 1, 1, 3], nil),
            ([1, 2, 6, 5], ResizeAttrs(mode: .linear, coordinateTransformation: .pytorchHalfPixel), nil, [1, 2, 1, 9]),
            ([1, 2, 6, 5], ResizeAttrs(mode: .linear, coordinateTransformation: .halfPixelSymmetric), [1, 1, 1.7, 0.6], nil),
            ([1, 1, 9, 8], ResizeAttrs(mode: .linear, coordinateTransformation: .asymmetric), [1, 1, 0.5, 0.4], nil),
            ([3, 1, 1], ResizeAttrs(mode: .linear), [1, 4, 3], nil),
            // Large enough to be split across threads: the position-embedding and decoder shapes in small.
            ([1, 64, 12, 12], ResizeAttrs(mode: .linear), nil, [1, 64, 15, 20]),
            ([1, 16, 24, 24], ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners), [1, 1, 2, 2], nil),
        ]
        for (shape, attrs, scales, sizes) in cases {
            let x = random(shape)
            let expected = try reference(x, attrs, scales: scales, sizes: sizes)
            for threads in [1, 2] {
                let y = try resize(x, attrs, scales: scales, sizes: sizes, threads: threads)
                XCTAssertEqual(y.count, expected.count)
                assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-6, "\(shape) \(attrs)")
            }
        }
    }

    func testLinearOverOtherAxesIsMultilinear() throws {
        // f(a, b) = 2a + b on a 2x2 grid (middle axis of size 1), align_corners to 3x3: exact.
        let x = Tensor.float32([0, 1, 2, 3], shape: [2, 1, 2])
        let y = try resize(x, ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners), sizes: [3, 1, 3])
        XCTAssertEqual(y.shape, [3, 1, 3])
        assertClose(y.scalars(), [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3], rtol: 0, atol: 1e-6)
    }

    func testCropAndResizeWithAxes() throws {
        let x = Tensor.float32([0, 1, 2, 3], shape: [1, 1, 1, 4])
        let attrs = ResizeAttrs(mode: .linear, coordinateTransformation: .tfCropAndResize, extrapolationValue: 9, axes: [3])
        // Source x = 0.25 * 3 + o * 1.0 * 3 / 2 = 0.75, 2.25, 3.75 (outside: extrapolated).
        let y = try resize(x, attrs, sizes: [3], roi: [0.25, 1.25])
        XCTAssertEqual(y.shape, [1, 1, 1, 3])
        assertClose(y.scalars(), [0.75, 2.25, 9], rtol: 0, atol: 1e-6)
    }

    func testOutputShapes() throws {
        func shape(_ x: [Int], scales: [Float]? = nil, sizes: [Int]? = nil, axes: [Int] = []) throws -> [Int] {
            try ResizeOp.plan(x, roi: nil, scales: scales, sizes: sizes, ResizeAttrs(axes: axes)).output
        }
        XCTAssertEqual(try shape([1, 3, 5, 5], scales: [1, 1, 1.5, 2]), [1, 3, 7, 10])
        XCTAssertEqual(try shape([1, 3, 5, 5], sizes: [8, 9], axes: [2, 3]), [1, 3, 8, 9])
        XCTAssertEqual(try shape([1, 3, 5, 5], scales: [0.5], axes: [-1]), [1, 3, 5, 2])
    }

    /// Constants printed by scripts/heavy-ops-ort-values.py (ONNX Runtime 1.32).
    func testMatchesOnnxRuntimeValues() throws {
        let ramp = Tensor.float32((0..<8).map(Float.init), shape: [1, 8])
        assertClose(try resize(ramp, ResizeAttrs(mode: .cubic, coordinateTransformation: .asymmetric), scales: [1, 2]).scalars(),
                    [0.0, 0.40625, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.59375, 7.0, 7.09375], rtol: 1e-5, atol: 1e-5)
        assertClose(try resize(ramp, ResizeAttrs(mode: .cubic), scales: [1, 1.5]).scalars(),
                    [-0.08680558, 0.40625, 1.2129643, 1.7870376, 2.5, 3.2129631, 3.7870376, 4.5, 5.212965, 5.7870388, 6.59375, 7.0868082],
                    rtol: 1e-5, atol: 1e-5)
        let xs = Tensor.float32([1, 2, 4, 8, 3], shape: [1, 5])
        assertClose(try resize(xs, ResizeAttrs(mode: .linear, coordinateTransformation: .halfPixelSymmetric), scales: [1, 1.7]).scalars(),
                    [1.0, 1.5294118, 2.2352941, 3.4117646, 5.1764698, 7.5294113, 5.6470585, 3.0], rtol: 1e-5, atol: 1e-5)
        assertClose(try resize(xs, ResizeAttrs(mode: .linear), scales: [1, 0.6]).scalars(), [1.3333333, 4.0, 4.6666675], rtol: 1e-5, atol: 1e-5)
    }

    func testErrors() {
        func message(_ inputs: [ShapeInput?], _ attrs: ResizeAttrs = ResizeAttrs()) -> String {
            do { _ = try Op.resize(attrs).inferOutputs(inputs, node: "r1"); return "no error" } catch { return "\(error)" }
        }
        let x = ShapeInput(dtype: .float32, shape: [1, 1, 4, 4])
        XCTAssertTrue(message([x, nil, nil, nil]).contains("either scales or sizes"))
        XCTAssertTrue(message([x, nil, nil, ShapeInput(Tensor.int64([8, 8], shape: [2]))]).contains("sizes has 2 values"))
        XCTAssertTrue(message([x, nil, ShapeInput(dtype: .float32, shape: [4])]).contains("known before running"))
        XCTAssertTrue(message([x, nil, ShapeInput(Tensor.float32([1, 1, 0, 2], shape: [4]))]).contains("must be positive"))
        XCTAssertTrue(message([x, nil, ShapeInput(Tensor.float32([2], shape: [1]))], ResizeAttrs(axes: [4])).contains("axes"))
    }
}
