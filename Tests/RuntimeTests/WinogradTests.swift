import XCTest
import CKernels
@testable import Runtime
import TestSupport

/// Winograd F(4x4, 3x3) and F(6x6, 3x3) against the direct scalar reference (double accumulation).
///
/// Error bound: with unit roundoff u = 2^-24, the computed output of a Winograd convolution
/// obeys, to first order, |y - y_exact| <= gamma_n * Mag where
///   Mag = sum_c |A^T| [ (|G| |g_c| |G^T|) .* (|B^T| |d_c| |B|) ] |A|  (+ |bias| + |residual|)
/// and gamma_n = n u / (1 - n u), n the longest chain of roundings one output passes through:
/// filter transform (2 x 3-term sums with a division), input transform (2 x 4-term sums), the
/// C-term dot product of the sgemm, output transform (2 x 6-term sums) and the epilogue; n = C + 32
/// covers it. Mag is what the transforms can amplify (the points +-2 give |coefficients| up to 8
/// in A^T and 5 in B^T), so the bound is computed per output from the actual data, not guessed.
/// F(6x6, 3x3) (winograd_f6.c) has the same structure with 8x8 matrices: per 1-D pass at most 4
/// roundings on any path (filter: rounded constant 2/9, 1/90, ..., its product and two sums;
/// input: a sum, a product by 4.25 or 5.25, two sums; output: a sum and difference, a product by
/// up to 32 and two sums), so n = 2 * 4 * 3 + C + 2 (epilogue) <= C + 32 covers it too; Mag uses
/// its |B^T|, |G| and |A^T| (coefficients up to 21/4 and 32), which is where its larger error shows.
final class WinogradTests: XCTestCase {
    private var rng = SeededRandom(seed: 0x3A_4F)

    private func random(_ count: Int) -> [Float] { rng.floats(count) }

    /// Every variant this CPU runs (transforms and products), the scalar reference first.
    private static let paths: [Int32] = [LSEG_WINOGRAD_SCALAR, LSEG_WINOGRAD_AVX2, LSEG_WINOGRAD_AVX512, LSEG_WINOGRAD_NEON]
        .map { Int32($0) }.filter { lseg_winograd_path_supported($0) != 0 }

    private struct Case {
        var n: Int, c: Int, k: Int, h: Int, w: Int
        var pads: [Int]
        var bias = true
        var activation: Activation = .none
        var residual = false
        var preRelu = false
    }

    /// |B^T|, |G|, |A^T| of F(4x4, 3x3).
    private static let absBT: [[Double]] = [
        [4, 0, 5, 0, 1, 0], [0, 4, 4, 1, 1, 0], [0, 4, 4, 1, 1, 0],
        [0, 2, 1, 2, 1, 0], [0, 2, 1, 2, 1, 0], [0, 4, 0, 5, 0, 1],
    ]
    private static let absG: [[Double]] = [
        [0.25, 0, 0], [1.0 / 6, 1.0 / 6, 1.0 / 6], [1.0 / 6, 1.0 / 6, 1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, 1.0 / 12, 1.0 / 6], [0, 0, 1],
    ]
    private static let absAT: [[Double]] = [
        [1, 1, 1, 1, 1, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 4, 4, 0], [0, 1, 1, 8, 8, 1],
    ]
    /// |B^T|, |G|, |A^T| of F(6x6, 3x3) (points 0, +-1, +-2, +-1/2, inf; winograd_f6.c's header).
    private static let absBT6: [[Double]] = [
        [1, 0, 5.25, 0, 5.25, 0, 1, 0], [0, 1, 1, 4.25, 4.25, 1, 1, 0], [0, 1, 1, 4.25, 4.25, 1, 1, 0],
        [0, 0.5, 0.25, 2.5, 1.25, 2, 1, 0], [0, 0.5, 0.25, 2.5, 1.25, 2, 1, 0],
        [0, 2, 4, 2.5, 5, 0.5, 1, 0], [0, 2, 4, 2.5, 5, 0.5, 1, 0], [0, 1, 0, 5.25, 0, 5.25, 0, 1],
    ]
    private static let absG6: [[Double]] = [
        [1, 0, 0], [2.0 / 9, 2.0 / 9, 2.0 / 9], [2.0 / 9, 2.0 / 9, 2.0 / 9],
        [1.0 / 90, 1.0 / 45, 2.0 / 45], [1.0 / 90, 1.0 / 45, 2.0 / 45],
        [32.0 / 45, 16.0 / 45, 8.0 / 45], [32.0 / 45, 16.0 / 45, 8.0 / 45], [0, 0, 1],
    ]
    private static let absAT6: [[Double]] = [
        [1, 1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 2, 2, 0.5, 0.5, 0], [0, 1, 1, 4, 4, 0.25, 0.25, 0],
        [0, 1, 1, 8, 8, 0.125, 0.125, 0], [0, 1, 1, 16, 16, 0.0625, 0.0625, 0],
        [0, 1, 1, 32, 32, 0.03125, 0.03125, 1],
    ]

    /// a (r x m) * b (m x s) * c^T where c is (s' x s): small dense helpers for the bound.
    private static func mul(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        a.map { row in (0..<b[0].count).map { j in zip(row, b).reduce(0) { $0 + $1.0 * $1.1[j] } } }
    }
    private static func transpose(_ a: [[Double]]) -> [[Double]] { (0..<a[0].count).map { j in a.map { $0[j] } } }

    /// Mag (see the class comment) for every output element, without bias/residual.
    private func magnitude(_ g: Convolution.Geometry, x: [Float], w: [Float], preRelu: Bool,
                           tiling: WinogradKernels.Tiling) -> [Double] {
        let (H, W, OH, OW) = (g.inSpatial[0], g.inSpatial[1], g.outSpatial[0], g.outSpatial[1])
        let (C, K) = (g.inChannels, g.outChannels)
        let (absBT, absG, absAT) = tiling == .f4 ? (Self.absBT, Self.absG, Self.absAT) : (Self.absBT6, Self.absG6, Self.absAT6)
        let tile = tiling.tile, side = tile + 2
        let absB = Self.transpose(absBT), absGT = Self.transpose(absG), absA = Self.transpose(absAT)
        var filters: [[[Double]]] = []
        for kc in 0..<(K * C) {
            let gk = (0..<3).map { r in (0..<3).map { s in Double(abs(w[kc * 9 + r * 3 + s])) } }
            filters.append(Self.mul(Self.mul(absG, gk), absGT))
        }
        var mag = [Double](repeating: 0, count: g.batch * K * OH * OW)
        for n in 0..<g.batch {
            for th in stride(from: 0, to: OH, by: tile) {
                for tw in stride(from: 0, to: OW, by: tile) {
                    var inputs: [[[Double]]] = []
                    for c in 0..<C {
                        let d = (0..<side).map { r in (0..<side).map { s -> Double in
                            let y = th - g.padBegin[0] + r, xx = tw - g.padBegin[1] + s
                            guard y >= 0, y < H, xx >= 0, xx < W else { return 0 }
                            let v = x[((n * C + c) * H + y) * W + xx]
                            return Double(abs(preRelu ? max(v, 0) : v))
                        } }
                        inputs.append(Self.mul(Self.mul(absBT, d), absB))
                    }
                    for k in 0..<K {
                        var prod = [[Double]](repeating: [Double](repeating: 0, count: side), count: side)
                        for c in 0..<C {
                            let u = filters[k * C + c], v = inputs[c]
                            for i in 0..<side { for j in 0..<side { prod[i][j] += u[i][j] * v[i][j] } }
                        }
                        let out = Self.mul(Self.mul(absAT, prod), absA)
                        for i in 0..<tile where th + i < OH {
                            for j in 0..<tile where tw + j < OW {
                                mag[((n * K + k) * OH + th + i) * OW + tw + j] = out[i][j]
                            }
                        }
                    }
                }
            }
        }
        return mag
    }

    /// Runs one case through the Winograd kernel with its planned workspace.
    private func runWinograd(_ g: Convolution.Geometry, x: [Float], w: [Float], bias: [Float]?, residual: [Float]?,
                             activation: Activation, preRelu: Bool, threads: Int,
                             prepared: PreparedWeights? = nil, path: Int32 = lseg_winograd_best_path(),
                             tiling: WinogradKernels.Tiling = .f4) throws -> [Float] {
        let bytes = WinogradKernels.workspaceBytes(g, tiling)
        let scratch = TensorStorage(byteCount: bytes)
        let ctx = ExecContext(threads: threads, workspace: scratch.pointer, workspaceBytes: bytes, prepared: prepared)
        var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outSize)
        try x.withUnsafeBufferPointer { xp in
            try w.withUnsafeBufferPointer { wp in
                try y.withUnsafeMutableBufferPointer { yp in
                    try (bias ?? []).withUnsafeBufferPointer { bp in
                        try (residual ?? []).withUnsafeBufferPointer { rp in
                            try WinogradKernels.conv(g, x: xp.baseAddress!, weight: wp.baseAddress!,
                                                     bias: bias == nil ? nil : bp.baseAddress,
                                                     residual: residual == nil ? nil : rp.baseAddress,
                                                     y: yp.baseAddress!, activation: activation, preRelu: preRelu, ctx,
                                                     path: path, tiling: tiling)
                        }
                    }
                }
            }
        }
        return y
    }

    func testWinogradMatchesDirectConvolutionWithinTheBound() throws {
        let cases: [Case] = [
            Case(n: 1, c: 1, k: 1, h: 3, w: 3, pads: [0, 0, 0, 0]),
            Case(n: 1, c: 3, k: 5, h: 7, w: 9, pads: [1, 1, 1, 1]),
            Case(n: 2, c: 17, k: 6, h: 11, w: 5, pads: [1, 1, 1, 1], activation: .relu),
            Case(n: 1, c: 16, k: 33, h: 13, w: 13, pads: [0, 0, 0, 0], bias: false),
            Case(n: 1, c: 8, k: 8, h: 4, w: 17, pads: [1, 0, 0, 1], activation: .leakyRelu(alpha: 0.1)),
            Case(n: 3, c: 5, k: 7, h: 6, w: 6, pads: [1, 1, 1, 1], bias: false),
            Case(n: 1, c: 20, k: 4, h: 9, w: 8, pads: [1, 1, 1, 1], residual: true),
            Case(n: 2, c: 6, k: 9, h: 10, w: 7, pads: [1, 1, 1, 1], activation: .relu, residual: true, preRelu: true),
            // More tiles than one block per thread: several blocks per slice, and a tile row
            // (17 tiles) split across blocks.
            Case(n: 1, c: 5, k: 3, h: 66, w: 67, pads: [1, 1, 1, 1]),
            // Tile rows wider than one 16-tile vector of the AVX-512 passes (38 tiles: 16 + 16 + 6;
            // 25 of F(6,3): 16 + 9), and output channels that leave a partial filter panel.
            Case(n: 1, c: 4, k: 11, h: 6, w: 150, pads: [1, 1, 1, 1], activation: .relu),
            // F(6,3) with full 6x6 tiles (24 = 4 * 6), several tile rows, residual and LeakyReLU.
            Case(n: 1, c: 12, k: 10, h: 24, w: 24, pads: [1, 1, 1, 1], activation: .leakyRelu(alpha: 0.2), residual: true),
        ]
        for tiling in [WinogradKernels.Tiling.f4, .f6] {
            try checkAgainstDirect(cases, tiling: tiling)
        }
    }

    private func checkAgainstDirect(_ cases: [Case], tiling: WinogradKernels.Tiling) throws {
        var worstRelative = 0.0, worstOfBound = 0.0
        for t in cases {
            let attrs = ConvAttrs(pads: t.pads)
            let g = try Convolution.convGeometry([t.n, t.c, t.h, t.w], [t.k, t.c, 3, 3], attrs)
            let x = random(t.n * t.c * t.h * t.w), w = random(t.k * t.c * 9)
            let bias = t.bias ? random(t.k) : nil
            let residual = t.residual ? random(g.batch * t.k * g.outSize) : nil
            let xEffective = t.preRelu ? x.map { max($0, 0) } : x
            let direct = ConvolutionKernels.referenceConv(g, x: xEffective, weight: w, bias: bias, activation: .none)
            var expected = direct
            if let residual { for i in expected.indices { expected[i] += residual[i] } }
            expected = expected.map { GemmKernels.referenceActivation($0, t.activation) }
            var mag = magnitude(g, x: x, w: w, preRelu: t.preRelu, tiling: tiling)
            for i in mag.indices {
                mag[i] += Double(abs(bias?[(i / g.outSize) % t.k] ?? 0)) + Double(abs(residual?[i] ?? 0))
            }
            let n = Double(t.c + 32), u = 0x1p-24
            let gamma = n * u / (1 - n * u)
            for (threads, path) in [1, 2].flatMap({ th in Self.paths.map { (th, $0) } }) {
                let y = try runWinograd(g, x: x, w: w, bias: bias, residual: residual, activation: t.activation,
                                        preRelu: t.preRelu, threads: threads, path: path, tiling: tiling)
                let scale = expected.map { Double(abs($0)) }.max() ?? 0
                for i in y.indices {
                    // ReLU and LeakyReLU are 1-Lipschitz and exact, so the bound carries through them.
                    let bound = gamma * mag[i]
                    let err = Double(abs(y[i] - expected[i]))
                    XCTAssert(err <= bound, "\(tiling) case \(t) threads \(threads) path \(path) element \(i): error \(err) exceeds the bound \(bound)")
                    if err > bound { break }
                    if bound > 0 { worstOfBound = max(worstOfBound, err / bound) }
                }
                let maxErr = zip(y, expected).map { Double(abs($0 - $1)) }.max() ?? 0
                if scale > 0 { worstRelative = max(worstRelative, maxErr / scale) }
            }
        }
        // Printed for the record (the bound is the assertion): max |error| / max |output|.
        print(String(format: "Winograd %@: worst max-error / max-output %.3g, worst error / bound %.3g",
                     "\(tiling)", worstRelative, worstOfBound))
    }

    /// The products' micro-kernels against the scalar path: every path accumulates over channels
    /// in order with fused multiply-adds, so the results are bit-identical, for channel counts
    /// that leave a partial filter panel and column counts that exercise every column tail.
    func testProductPathsAreBitIdenticalToTheScalarReference() throws {
        let panel = Int(LSEG_WINOGRAD_PANEL)
        for (k, c, cols, ld) in [(8, 1, 16, 16), (5, 7, 32, 48), (17, 33, 48, 48), (40, 3, 80, 96), (1, 64, 16, 32),
                                 (24, 20, 112, 112)] {
            let points = 3, panels = (k + panel - 1) / panel
            let weight = random(k * c * 9)
            var packed = [Float](repeating: .nan, count: 36 * panels * panel * c)
            packed.withUnsafeMutableBufferPointer { lseg_winograd_filter_transform(weight, Int64(k), Int64(c), 0, Int64(k), $0.baseAddress!) }
            XCTAssertFalse(packed.contains { $0.isNaN }, "the filter transform must write every packed value, padding included")
            let planeV = c * ld + 16, planeM = panels * panel * ld + 16
            let v = random(points * planeV)
            var expected = [Float](repeating: .nan, count: points * planeM)
            for path in Self.paths {
                var m = [Float](repeating: .nan, count: points * planeM)
                // In two panel ranges, as threads splitting the output channels do.
                let split = Int64(panels / 2)
                let ok = m.withUnsafeMutableBufferPointer {
                    lseg_winograd_products(path, packed, Int64(k), Int64(c), v, Int64(ld), Int64(planeV), $0.baseAddress!,
                                           Int64(planeM), Int64(cols), Int64(points), 0, split)
                        + lseg_winograd_products(path, packed, Int64(k), Int64(c), v, Int64(ld), Int64(planeV), $0.baseAddress!,
                                                 Int64(planeM), Int64(cols), Int64(points), split, Int64(panels))
                }
                XCTAssertEqual(ok, 2)
                if path == Int32(LSEG_WINOGRAD_SCALAR) {
                    expected = m
                    // The scalar path against plain double sums (within a first-order bound).
                    for xi in 0..<points {
                        for kk in 0..<(panels * panel) {
                            for t in 0..<cols {
                                var sum = 0.0, mag = 0.0
                                for ch in 0..<c {
                                    let uv = Double(packed[((xi * panels + kk / panel) * c + ch) * panel + kk % panel])
                                        * Double(v[xi * planeV + ch * ld + t])
                                    sum += uv; mag += abs(uv)
                                }
                                let got = Double(m[xi * planeM + kk * ld + t])
                                XCTAssertLessThanOrEqual(abs(got - sum), Double(c) * 0x1p-24 * mag * 1.01,
                                                         "k \(k) c \(c) point \(xi) row \(kk) column \(t)")
                                if kk >= k { XCTAssertEqual(got, 0, "padding rows multiply zero filters") }
                            }
                        }
                    }
                    continue
                }
                for xi in 0..<points {
                    for row in 0..<(panels * panel) {
                        let base = xi * planeM + row * ld
                        XCTAssertEqual(Array(m[base..<(base + cols)]), Array(expected[base..<(base + cols)]),
                                       "path \(path) k \(k) c \(c) cols \(cols) point \(xi) row \(row)")
                    }
                }
            }
        }
        XCTAssertEqual(lseg_winograd_products(99, nil, 1, 1, nil, 16, 16, nil, 16, 16, 1, 0, 1), 0, "an unknown path computes nothing")
    }

    func testPreparedFiltersAreReusedAndGiveTheSameResult() throws {
        let g = try Convolution.convGeometry([1, 24, 14, 10], [32, 24, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
        let x = random(24 * 14 * 10), w = random(32 * 24 * 9), bias = random(32)
        let perCall = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false, threads: 2)
        let prepared = PreparedWeights()
        let first = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false, threads: 2,
                                    prepared: prepared)
        XCTAssertEqual(prepared.byteCount, 36 * 32 * 24 * 4)
        let second = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false, threads: 1,
                                     prepared: prepared)
        XCTAssertEqual(prepared.byteCount, 36 * 32 * 24 * 4, "the second run must reuse the transformed filters")
        XCTAssertEqual(first, perCall)
        XCTAssertEqual(second, perCall)
        // F(6x6, 3x3) filters are a layout of their own (64 points) next to the F(4x4, 3x3) ones.
        let perCall6 = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false,
                                       threads: 2, tiling: .f6)
        let first6 = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false,
                                     threads: 2, prepared: prepared, tiling: .f6)
        XCTAssertEqual(prepared.byteCount, (36 + 64) * 32 * 24 * 4)
        let second6 = try runWinograd(g, x: x, w: w, bias: bias, residual: nil, activation: .relu, preRelu: false,
                                      threads: 1, prepared: prepared, tiling: .f6)
        XCTAssertEqual(prepared.byteCount, (36 + 64) * 32 * 24 * 4, "the second F(6,3) run must reuse its filters")
        XCTAssertEqual(first6, perCall6)
        XCTAssertEqual(second6, perCall6)
        XCTAssertNotEqual(first6, first, "F(6,3) rounds differently from F(4,3): it really ran")
    }

    func testConvOpChoosesWinogradAndMatchesIm2col() throws {
        let attrs = ConvAttrs(pads: [1, 1, 1, 1], activation: .relu)
        let g = try Convolution.convGeometry([1, 16, 24, 24], [16, 16, 3, 3], attrs)
        XCTAssertEqual(Convolution.convPath(g), .winograd)
        // 16 tiles of 6x6: F(6x6, 3x3) (the run below goes through it).
        XCTAssertEqual(Convolution.winogradTiling(g), .f6)
        // 12x41 output: 33 tiles of 4x4 but only 14 of 6x6, which would leave a products block mostly empty.
        let narrow = try Convolution.convGeometry([1, 32, 12, 41], [32, 32, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
        XCTAssertEqual(Convolution.convPath(narrow), .winograd)
        XCTAssertEqual(Convolution.winogradTiling(narrow), .f4)
        let x = f32(random(16 * 576), [1, 16, 24, 24]), w = f32(random(16 * 16 * 9), [16, 16, 3, 3]), b = f32(random(16), [16])
        let y = try Eval.evaluate(.conv(attrs), [x, w, b], threads: 2)[0]
        // The same op through im2col + sgemm.
        let bytes = Convolution.columnBytes(rows: 16 * 9, positions: 576)
        let scratch = TensorStorage(byteCount: bytes)
        let ctx = ExecContext(threads: 2, workspace: scratch.pointer, workspaceBytes: bytes)
        var direct = [Float](repeating: 0, count: 16 * 576)
        try direct.withUnsafeMutableBufferPointer { yp in
            try ConvolutionKernels.conv(g, x: TensorView(x).pointer(Float.self), weight: TensorView(w).pointer(Float.self),
                                        bias: TensorView(b).pointer(Float.self), y: yp.baseAddress!, activation: .relu,
                                        ctx, path: .im2col)
        }
        // Winograd's error is relative to the products' magnitudes, not to each output (an output
        // near zero from large terms has a larger relative error): compare against the output scale.
        let scale = direct.map(abs).max() ?? 0
        assertClose(floats(y), direct, rtol: 0, atol: 1e-5 * scale)
        // An activation the output transform leaves to the separate pass (GELU).
        let gelu = ConvAttrs(pads: [1, 1, 1, 1], activation: .gelu)
        let yGelu = try Eval.evaluate(.conv(gelu), [x, w, b], threads: 2)[0]
        let expected = ConvolutionKernels.referenceConv(g, x: floats(x), weight: floats(w), bias: floats(b), activation: .gelu)
        assertClose(floats(yGelu), expected, rtol: 0, atol: 1e-5 * scale)
        // Not Winograd: strided, dilated, grouped, 1-D and 5x5 convolutions.
        for (x, w, a) in [([1, 32, 20, 20], [32, 32, 3, 3], ConvAttrs(strides: [2, 2])),
                          ([1, 32, 20, 20], [32, 32, 3, 3], ConvAttrs(dilations: [2, 2])),
                          ([1, 32, 20, 20], [32, 16, 3, 3], ConvAttrs(group: 2)),
                          ([1, 32, 20, 20], [32, 32, 5, 5], ConvAttrs()),
                          ([1, 32, 20], [32, 32, 3], ConvAttrs()),
                          // Too few tiles (12x12 output: 9) or channels for wide products.
                          ([1, 256, 12, 12], [256, 256, 3, 3], ConvAttrs(pads: [1, 1, 1, 1])),
                          ([1, 8, 40, 40], [32, 8, 3, 3], ConvAttrs())] {
            XCTAssertNotEqual(Convolution.convPath(try Convolution.convGeometry(x, w, a)), .winograd, "\(x) \(w) \(a)")
        }
    }

    func testTooSmallWorkspaceIsAnErrorNotACrash() throws {
        let g = try Convolution.convGeometry([1, 16, 16, 16], [16, 16, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
        let scratch = TensorStorage(byteCount: 1024)
        let ctx = ExecContext(threads: 2, workspace: scratch.pointer, workspaceBytes: 1024)
        let x = random(16 * 256), w = random(16 * 16 * 9)
        var y = [Float](repeating: 0, count: 16 * 256)
        XCTAssertThrowsError(try y.withUnsafeMutableBufferPointer { yp in
            try WinogradKernels.conv(g, x: x, weight: w, bias: nil, residual: nil, y: yp.baseAddress!, activation: .none,
                                     preRelu: false, ctx)
        }) { XCTAssert("\($0)".contains("workspace"), "\($0)") }
    }
}
