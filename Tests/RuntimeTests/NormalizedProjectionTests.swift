import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// `.normalizedProjection`, the fused LSeg head: the tiled kernel against the scalar reference
/// and against the op chain it replaces, its shape checks, and its pack encoding.
final class NormalizedProjectionTests: XCTestCase {
    private typealias Attrs = NormalizedProjectionAttrs

    /// Rows of unit length, as the text tower's features are.
    private func unitRows(_ n: Int, _ c: Int, seed: UInt64) -> Tensor {
        var r = SeededRandom(seed: seed)
        var v = r.floats(n * c)
        for i in 0..<n {
            let norm = (0..<c).reduce(Float(0)) { $0 + v[i * c + $1] * v[i * c + $1] }.squareRoot()
            for j in 0..<c { v[i * c + j] /= norm }
        }
        return f32(v, [n, c])
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var r = SeededRandom(seed: seed)
        return f32(r.floats(Tensor.elementCount(shape)), shape)
    }

    private let upsamples: [Attrs.Upsample?] = [
        nil,
        .init(coordinateTransformation: .alignCorners, scales: [2, 2]),
        .init(coordinateTransformation: .halfPixel, scales: [2, 3]),
        .init(coordinateTransformation: .pytorchHalfPixel, sizes: [7, 4]),
        .init(coordinateTransformation: .asymmetric, scales: [1.5, 1]),
    ]

    func testKernelMatchesScalarReference() throws {
        var seed: UInt64 = 1
        // (C, h, w): odd sizes, one channel, wide rows that span several tiles and rows narrower than a tile.
        let geometries = [(1, 3, 5), (17, 5, 7), (64, 9, 3), (33, 2, 150), (8, 40, 11)]
        let guards: [Attrs.NormGuard] = [.none, .clampNorm(epsilon: 1e-3), .addToSquaredSum(epsilon: 0.5)]
        for (c, h, w) in geometries {
            for labels in [1, 2, 5, 20] {
                for (k, up) in upsamples.enumerated() {
                    seed += 1
                    let attrs = Attrs(upsample: up, scale: 14.285714, normGuard: guards[(Int(seed) + k) % guards.count])
                    let x = random([1, c, h, w], seed: seed), f = unitRows(labels, c, seed: seed + 1000)
                    let expected = try NormalizedProjectionKernels.reference(attrs, x: x.scalars(), xShape: x.shape,
                                                                             features: f.scalars(), featureShape: f.shape)
                    for threads in [1, 2] {
                        let y = try eval1(.normalizedProjection(attrs), [x, f], threads: threads)
                        XCTAssertEqual(y.shape[0...1], [1, labels])
                        assertClose(y.scalars(), expected, rtol: 1e-4, atol: 2e-5 * attrs.scale,
                                    "C \(c) h \(h) w \(w) N \(labels) upsample \(String(describing: up)) threads \(threads)")
                    }
                }
            }
        }
    }

    /// Resize -> Transpose -> Mul -> ReduceSum -> Sqrt -> Div -> Reshape -> Mul -> MatMul(Transpose(F)) -> Reshape -> Transpose,
    /// as the TorchScript export of LSeg computes it, op by op with the runtime's kernels.
    private func unfused(_ x: Tensor, _ f: Tensor, upsample: Attrs.Upsample?, scale: Float) throws -> Tensor {
        var u = x
        if let up = upsample {
            let resize = Op.resize(ResizeAttrs(mode: .linear, coordinateTransformation: up.coordinateTransformation))
            u = up.scales.isEmpty
                ? try eval1(resize, [x, nil, nil, i64([1, Int64(x.shape[1])] + up.sizes.map(Int64.init), [4])])
                : try eval1(resize, [x, nil, f32([1, 1] + up.scales, [4])])
        }
        let (h, w, c) = (u.shape[2], u.shape[3], u.shape[1])
        let t = try eval1(.transpose(perm: [0, 2, 3, 1]), [u])
        let sq = try eval1(.mul, [t, t])
        let sum = try eval1(.reduce(.sum, ReduceAttrs(keepDims: true)), [sq, i64([-1], [1])])
        let d = try eval1(.div, [t, try eval1(.sqrt, [sum])])
        let flat = try eval1(.reshape(allowZero: false), [d, i64([-1, Int64(c)], [2])])
        let scaled = try eval1(.mul, [f32([scale], []), flat])
        let m = try eval1(.matMul, [scaled, try eval1(.transpose(perm: [1, 0]), [f])])
        let r = try eval1(.reshape(allowZero: false), [m, i64([1, Int64(h), Int64(w), -1], [4])])
        return try eval1(.transpose(perm: [0, 3, 1, 2]), [r])
    }

    func testMatchesTheUnfusedOpChain() throws {
        var seed: UInt64 = 500
        for (c, h, w) in [(512, 6, 5), (3, 1, 1), (16, 7, 9)] {
            for labels in [1, 3, 20] {
                for up in upsamples {
                    seed += 2
                    let attrs = Attrs(upsample: up, scale: 1 / 0.07)
                    var xs = random([1, c, h, w], seed: seed).scalars(as: Float.self)
                    if up == nil && h * w > 1 {
                        // A zero pixel: 0 / 0 in both forms (NaN), as the export computes it.
                        for ch in 0..<c { xs[ch * h * w + 1] = 0 }
                    }
                    let x = f32(xs, [1, c, h, w]), f = unitRows(labels, c, seed: seed + 1)
                    let expected = try unfused(x, f, upsample: up, scale: attrs.scale)
                    let y = try eval1(.normalizedProjection(attrs), [x, f], threads: 2)
                    XCTAssertEqual(y.shape, expected.shape)
                    if up == nil && h * w > 1 { XCTAssertTrue(y.scalars(as: Float.self)[1].isNaN) }
                    assertClose(y, expected, rtol: 1e-4, atol: 2e-5 * attrs.scale, "C \(c) h \(h) w \(w) N \(labels) \(String(describing: up))")
                }
            }
        }
    }

    func testShapeErrors() {
        let op = Op.normalizedProjection(Attrs(scale: 2))
        assertOpError(op, [random([1, 4, 3, 3], seed: 1), random([2, 5], seed: 2)], "features must be [N, 4]")
        assertOpError(op, [random([2, 4, 3, 3], seed: 1), random([2, 4], seed: 2)], "must be [1, C, H, W]")
        assertOpError(op, [random([1, 4, 9], seed: 1), random([2, 4], seed: 2)], "must be [1, C, H, W]")
        assertOpError(op, [f16([1, 2, 3, 4], [1, 4, 1, 1]), random([2, 4], seed: 2)], "float32 only")
        assertOpError(.normalizedProjection(Attrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2]), scale: 1)),
                      [random([1, 4, 3, 3], seed: 1), random([2, 4], seed: 2)], "upsample scales")
        assertOpError(.normalizedProjection(Attrs(scale: .infinity)), [random([1, 4, 3, 3], seed: 1), random([2, 4], seed: 2)],
                      "scale inf is not finite")
    }

    func testWorkspaceHoldsSourceResolutionPlanesNotTheUpsampledTensor() {
        let attrs = Attrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2, 2]), scale: 1)
        let x = TypedShape(.float32, [1, 512, 96, 96]), f = TypedShape(.float32, [4, 512])
        let out = TypedShape(.float32, [1, 4, 192, 192])
        let bytes = Op.normalizedProjection(attrs).workspaceBytes([x, f], [out])
        // A doubling upsample takes the source-resolution path: five Gram planes, the norms and
        // four dot-product planes at 96 x 96, plus per worker the block sums of a band of eight
        // source rows (5 x 8 x 96 floats, more than the (4 + 3) x 96 output-row floats); far
        // below the 75 MB upsampled [1, 512, 192, 192] tensor the unfused graph materializes.
        let shared = 10 * 96 * 96 * 4, perWorker = 5 * 8 * 96 * 4
        XCTAssertGreaterThanOrEqual(bytes, shared + perWorker)
        XCTAssertEqual((bytes - shared) % perWorker, 0)
        XCTAssertLessThanOrEqual(bytes, shared + 16 * perWorker)
    }

    func testWorkspaceOfTheTiledPathHoldsOnlyTiles() {
        // A 1.2x upsample (1.44x the pixels) does not pay for the source-resolution planes: row tiles.
        let attrs = Attrs(upsample: .init(coordinateTransformation: .halfPixel, scales: [1.2, 1.2]), scale: 1)
        let x = TypedShape(.float32, [1, 512, 96, 96]), f = TypedShape(.float32, [4, 512])
        let out = TypedShape(.float32, [1, 4, 115, 115])
        let bytes = Op.normalizedProjection(attrs).workspaceBytes([x, f], [out])
        // Per worker one [230, 512] tile (256 / 115 = 2 rows), two resampled [115, 512] source
        // rows, one transposed [96, 512] source row and the norms; at most 16 workers.
        let perWorker = (512 * (230 + 2 * 115 + 96) + 230 + 15) / 16 * 16 * 4
        XCTAssertGreaterThanOrEqual(bytes, perWorker)
        XCTAssertEqual(bytes % perWorker, 0)
        XCTAssertLessThanOrEqual(bytes, 16 * perWorker)
    }

    /// Neighbouring source pixels that nearly cancel under the blend weights: the Gram form
    /// loses its digits there, so those pixels must be recomputed from the vectors themselves.
    func testCancellingNeighboursAreRecomputedExactly() throws {
        var r = SeededRandom(seed: 77)
        let (c, h, w) = (24, 4, 6)
        var xs = r.floats(c * h * w)
        // Half-pixel 2x: output column 1 blends source columns 0 and 1 with weights 0.75 / 0.25,
        // so column 1 = -3 x column 0 (times 1 + 1e-4 noise) nearly cancels there.
        for ch in 0..<c {
            for i in 0..<h {
                for j in stride(from: 0, to: w - 1, by: 2) {
                    let v = xs[(ch * h + i) * w + j]
                    xs[(ch * h + i) * w + j + 1] = -3 * v * (1 + 1e-4 * r.floats(1)[0])
                }
            }
        }
        let x = f32(xs, [1, c, h, w]), f = unitRows(5, c, seed: 78)
        for normGuard in [Attrs.NormGuard.none, .clampNorm(epsilon: 1e-6)] {
            let attrs = Attrs(upsample: .init(coordinateTransformation: .halfPixel, scales: [2, 2]), scale: 10, normGuard: normGuard)
            let expected = try NormalizedProjectionKernels.reference(attrs, x: x.scalars(), xShape: x.shape,
                                                                     features: f.scalars(), featureShape: f.shape)
            let before = NormalizedProjectionKernels.exactPixels.value
            let y = try eval1(.normalizedProjection(attrs), [x, f], threads: 2)
            // Every second output column of every row (h * 2 rows, w / 2 such columns).
            XCTAssertGreaterThanOrEqual(NormalizedProjectionKernels.exactPixels.value - before, 2 * h * w / 2)
            assertClose(y.scalars(), expected, rtol: 1e-4, atol: 2e-5 * attrs.scale, "\(normGuard)")
        }
    }

    /// LSeg's shape (512 channels, 2x align-corners) with smooth, positively correlated
    /// features as a trained head produces: the Gram form, no exact recomputation needed.
    func testLSegShapedHeadMatchesReference() throws {
        var r = SeededRandom(seed: 91)
        let (c, h, w) = (512, 12, 10)
        let common = r.floats(c)
        var xs = [Float](repeating: 0, count: c * h * w)
        let noise = r.floats(c * h * w)
        for ch in 0..<c { for p in 0..<(h * w) { xs[ch * h * w + p] = common[ch] + 0.3 * noise[ch * h * w + p] } }
        let x = f32(xs, [1, c, h, w]), f = unitRows(7, c, seed: 92)
        let attrs = Attrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2, 2]), scale: 1 / 0.07)
        let expected = try NormalizedProjectionKernels.reference(attrs, x: x.scalars(), xShape: x.shape,
                                                                 features: f.scalars(), featureShape: f.shape)
        let before = NormalizedProjectionKernels.exactPixels.value
        for threads in [1, 2] {
            let y = try eval1(.normalizedProjection(attrs), [x, f], threads: threads)
            assertClose(y.scalars(), expected, rtol: 1e-4, atol: 2e-5 * attrs.scale, "threads \(threads)")
        }
        XCTAssertEqual(NormalizedProjectionKernels.exactPixels.value, before)
    }

    func testPackRoundTripAndBadAttributesAreRefused() throws {
        let attrs = Attrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2, 2]), scale: 14.5,
                          normGuard: .clampNorm(epsilon: 1e-12))
        var g = Graph(name: "image")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(3), .fixed(3)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        g.nodes = [Node(name: "head", op: .normalizedProjection(attrs), inputs: ["x", "f"], outputs: ["y"])]
        g.initializers["f"] = unitRows(3, 4, seed: 9)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("np-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.pack")
        try Pack.write(Model(graphs: [g]), to: url.path)
        XCTAssertEqual(try Pack.read(url.path).graphs[0].nodes[0].op, .normalizedProjection(attrs))

        // Attributes are checked when decoded: a bad one names the op and the fault.
        let bad = Op.normalizedProjection(Attrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2, -1]), scale: 1))
        let json = try JSONEncoder().encode(bad)
        XCTAssertThrowsError(try JSONDecoder().decode(Op.self, from: json)) { error in
            XCTAssertTrue("\(error)".contains("NormalizedProjection: upsample scales"), "\(error)")
        }
        let badEpsilon = Op.normalizedProjection(Attrs(scale: 1, normGuard: .addToSquaredSum(epsilon: -1)))
        XCTAssertThrowsError(try JSONDecoder().decode(Op.self, from: try JSONEncoder().encode(badEpsilon))) { error in
            XCTAssertTrue("\(error)".contains("norm epsilon -1.0"), "\(error)")
        }
        var both = Attrs(upsample: .init(coordinateTransformation: .halfPixel, scales: [2, 2]), scale: 1)
        both.upsample!.sizes = [4, 4]
        XCTAssertNotNil(both.problem)
    }
}
