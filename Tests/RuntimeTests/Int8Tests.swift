import CKernels
@testable import Runtime
import TestSupport
import XCTest

/// QLinear / QConv against a float reference on the dequantized operands (int32 accumulation is
/// exact, so only float rounding differs), the SIMD paths against the scalar one bit for bit, the
/// Plan/Session path (weight quantization reaches the kernel) and the error messages.
final class Int8Tests: XCTestCase {
    struct Quantized {
        var weight: Tensor       // int8 with per-channel scales
        var dequantized: [Float] // weight * scale
    }

    private func quantizedWeight(_ shape: [Int], _ rng: inout SeededRandom) -> Quantized {
        let n = shape[0], per = Tensor.elementCount(shape) / Swift.max(n, 1)
        let w = (0..<Tensor.elementCount(shape)).map { _ in Int8(Int.random(in: -127...127, using: &rng)) }
        let scales = (0..<n).map { _ in Float.random(in: 0.001..<0.02, using: &rng) }
        var t = Tensor(dtype: .int8, shape: shape, scalars: w)
        t.quant = QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: n), axis: 0)
        let deq = w.enumerated().map { Float($0.element) * scales[$0.offset / per] }
        return Quantized(weight: t, dequantized: deq)
    }

    /// quantize -> dequantize with the op's own rounding (half to even, saturating).
    private func fakeQuantize(_ x: [Float], _ q: QuantParams) -> [Float] {
        let s = q.scales[0], zp = q.zeroPoints[0]
        return x.map { Float(QuantizationKernels.quantizeOne($0, s, zp, 0, 255) - zp) * s }
    }

    private func inputQuant(_ x: [Float]) -> QuantParams {
        // Calibrated on slightly less than the range, so some values saturate.
        let lo = Swift.min(0, x.min() ?? 0) * 0.9, hi = Swift.max(0, x.max() ?? 0) * 0.9
        let scale = Swift.max((hi - lo) / 255, 1e-6)
        return QuantParams(scales: [scale], zeroPoints: [Int32((-lo / scale).rounded())])
    }

    private let activations: [Activation] = [.none, .relu, .gelu, .quickGelu, .leakyRelu(alpha: 0.1)]

    func testQLinearMatchesDequantizedFloatReference() throws {
        var rng = SeededRandom(seed: 11)
        let shapes: [([Int], Int)] = [([1, 1], 1), ([1, 5], 1), ([3, 7], 9), ([2, 3, 13], 17), ([1, 30], 37),
                                      ([50, 64], 24), ([7, 100], 3), ([145, 48], 40)]
        for (i, (xShape, n)) in shapes.enumerated() {
            let k = xShape.last!, m = Tensor.elementCount(xShape) / k
            let x = rng.floats(m * k, -2, 3)
            let w = quantizedWeight([n, k], &rng)
            let bias = rng.floats(n)
            let q = inputQuant(x)
            let xd = fakeQuantize(x, q)
            let act = activations[i % activations.count]
            var expected = [Float](repeating: 0, count: m * n)
            for r in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for t in 0..<k { s += Double(xd[r * k + t]) * Double(w.dequantized[j * k + t]) }
                    expected[r * n + j] = GemmKernels.referenceActivation(Float(s + Double(bias[j])), act)
                }
            }
            for threads in [1, 2] {
                let y = try eval1(.qLinear(QLinearAttrs(input: q, activation: act)), [f32(x, xShape), w.weight, f32(bias, [n])],
                                  threads: threads)
                XCTAssertEqual(y.shape, Array(xShape.dropLast()) + [n])
                assertClose(y.scalars(as: Float.self), expected, rtol: 1e-5, atol: 2e-6)
            }
        }
    }

    func testQLinearWithoutBias() throws {
        var rng = SeededRandom(seed: 12)
        let x = rng.floats(4 * 10), w = quantizedWeight([6, 10], &rng), q = inputQuant(x)
        let xd = fakeQuantize(x, q)
        let y = try eval1(.qLinear(QLinearAttrs(input: q)), [f32(x, [4, 10]), w.weight])
        let (ref, _) = GemmKernels.referenceMatMul(xd, [4, 10], transpose(w.dequantized, 6, 10), [10, 6])!
        assertClose(y.scalars(as: Float.self), ref, rtol: 1e-5, atol: 1e-6)
    }

    private func transpose(_ a: [Float], _ rows: Int, _ cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: a.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = a[r * cols + c] } }
        return t
    }

    func testQConvVariantsMatchDequantizedFloatReference() throws {
        struct Case { var x: [Int]; var w: [Int]; var attrs: ConvAttrs }
        let cases: [Case] = [
            Case(x: [1, 3, 8, 9], w: [5, 3, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            Case(x: [2, 4, 9, 7], w: [6, 4, 3, 3], attrs: ConvAttrs(strides: [2, 2], pads: [1, 0, 1, 2])),
            Case(x: [1, 4, 6, 6], w: [6, 2, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 2)),
            Case(x: [1, 5, 7, 6], w: [5, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 5)),       // depthwise
            Case(x: [2, 7, 5, 11], w: [9, 7, 1, 1], attrs: ConvAttrs()),                                 // pointwise
            Case(x: [1, 6, 9, 9], w: [4, 6, 1, 1], attrs: ConvAttrs(strides: [2, 2])),                   // 1x1 strided
            Case(x: [1, 3, 11, 10], w: [2, 3, 3, 2], attrs: ConvAttrs(pads: [2, 1, 2, 1], dilations: [2, 3])),
            Case(x: [1, 2, 5, 5], w: [1, 2, 5, 5], attrs: ConvAttrs()),                                  // one output
            Case(x: [1, 3, 17], w: [4, 3, 3], attrs: ConvAttrs(strides: [2], pads: [1, 1])),              // 1-D
            Case(x: [1, 16, 12, 12], w: [24, 16, 3, 3], attrs: ConvAttrs(autoPad: .sameUpper)),
        ]
        var rng = SeededRandom(seed: 21)
        for (i, c) in cases.enumerated() {
            var attrs = c.attrs
            attrs.activation = activations[i % activations.count]
            let x = rng.floats(Tensor.elementCount(c.x), -1, 2)
            let w = quantizedWeight(c.w, &rng)
            let bias = rng.floats(c.w[0])
            let q = inputQuant(x)
            let g = try Convolution.convGeometry(c.x, c.w, attrs)
            let expected = ConvolutionKernels.referenceConv(g, x: fakeQuantize(x, q), weight: w.dequantized, bias: bias,
                                                            activation: attrs.activation)
            for threads in [1, 2] {
                let y = try eval1(.qConv(QConvAttrs(conv: attrs, input: q)), [f32(x, c.x), w.weight, f32(bias, [c.w[0]])],
                                  threads: threads)
                XCTAssertEqual(y.shape, g.output, "case \(i)")
                assertClose(y.scalars(as: Float.self), expected, rtol: 1e-5, atol: 2e-6)
            }
        }
    }

    /// Every SIMD path this CPU runs gives the scalar reference's int32 sums exactly, including
    /// the extremes where u8 x s8 pair sums would saturate 16 bits.
    func testSIMDPathsMatchScalarInt32Exactly() throws {
        let paths = [Int32(LSEG_I8_AVX2), Int32(LSEG_I8_NEON), Int32(LSEG_I8_NEON_DOT)].filter { lseg_i8_path_available($0) != 0 }
        // x86-64 machines we build for have AVX2 and every aarch64 has NEON: a missing path is a bug.
        XCTAssertFalse(paths.isEmpty, "no SIMD int8 path detected on this CPU")
        var rng = SeededRandom(seed: 31)
        var shapes: [(Int, Int, Int, Int)] = [(1, 1, 1, 0), (1, 9, 5, 0), (13, 1, 7, 0), (7, 9, 4099, 1), (7, 9, 4099, 2)]
        for _ in 0..<40 { shapes.append((Int.random(in: 1...40, using: &rng), Int.random(in: 1...40, using: &rng), Int.random(in: 1...90, using: &rng), 0)) }
        for (m, n, k, fill) in shapes {
            let a = (0..<m * k).map { _ in fill != 0 ? Int8(-128) : Int8(truncatingIfNeeded: Int.random(in: -128...127, using: &rng)) }
            let b = (0..<n * k).map { _ in fill == 1 ? Int8(-127) : fill == 2 ? Int8(127) : Int8(Int.random(in: -127...127, using: &rng)) }
            var reference = [Int32](repeating: 0, count: m * n)
            lseg_i8_gemm_reference(a, Int64(k), b, Int64(k), Int64(m), Int64(n), Int64(k), &reference, Int64(n))
            let scalar = packedProduct(Int32(LSEG_I8_SCALAR), a, b, m, n, k)
            XCTAssertEqual(scalar, reference, "scalar \(m)x\(n)x\(k)")
            for path in paths {
                XCTAssertEqual(packedProduct(path, a, b, m, n, k), scalar, "\(Int8Kernels.pathName(path)) \(m)x\(n)x\(k)")
            }
        }
    }

    private func packedProduct(_ path: Int32, _ a: [Int8], _ b: [Int8], _ m: Int, _ n: Int, _ k: Int) -> [Int32] {
        let mr = Int(lseg_i8_mr(path)), panels = (n + 7) / 8
        let rows = TensorStorage(byteCount: Int(lseg_i8_rows_bytes(path, Int64(m), Int64(k))))
        let cols = TensorStorage(byteCount: Int(lseg_i8_cols_bytes(path, Int64(n), Int64(k))))
        lseg_i8_pack_rows(path, a, Int64(k), Int64(m), Int64(k), 0, Int64((m + mr - 1) / mr * mr), rows.pointer)
        lseg_i8_pack_cols(path, b, Int64(k), 1, Int64(n), Int64(k), 0, Int64(panels), cols.pointer)
        var c = [Int32](repeating: -1, count: m * n)
        lseg_i8_gemm(path, rows.pointer, cols.pointer, Int64(m), Int64(n), Int64(k), 0, Int64(m), 0, Int64(panels), nil, &c, Int64(n))
        return c
    }

    /// The float outputs of the full op are bit-identical across paths (same int32, same epilogue),
    /// through the packed GEMM (QLinear, strided/grouped conv), QLinear's VNNI path (patch
    /// embeddings) and the AVX-512 VNNI direct
    /// convolution (stride 1: 3x3, 1x1, dilated, 1-D, widths past one 32-position tile, channel
    /// counts off the 4 / 8 blocking), with weights packed per call and prepared once.
    func testQLinearAndQConvOutputsIdenticalAcrossPaths() throws {
        let paths = [Int32(LSEG_I8_AVX2), Int32(LSEG_I8_AVX512_VNNI), Int32(LSEG_I8_NEON), Int32(LSEG_I8_NEON_DOT)].filter { lseg_i8_path_available($0) != 0 }
        // x86-64 machines we build for have AVX2 and every aarch64 has NEON: a missing path is a bug.
        XCTAssertFalse(paths.isEmpty, "no SIMD int8 path detected on this CPU")
        var rng = SeededRandom(seed: 41)
        // The last five take the VNNI path that reads [N, K] weights in place (K % 4 == 0, N % 8 == 0);
        // the ViT-like 145 tokens end in a 16-token panel vector plus one dot-product tail token (leaky ReLU,
        // then GELU; depth 36 is off the 16-wide quantize).
        let linearShapes = [(23, 19, 45), (1, 70, 33), (40, 1, 7), (9, 33, 128), (37, 64, 96), (1, 8, 4), (70, 40, 12),
                            (145, 40, 64), (145, 96, 36),
                            // VNNI token panels of 48: two full ones; a full one and a 42-token one.
                            (96, 24, 20), (90, 16, 8),
                            // VNNI dot-product tails (m % 16 <= 4): tail only (1-4 tokens, depths past one and
                            // off a 64-byte step, masked), 16 + 1, 12 panels + 1 (vitl16), 32 panels + 4 (the
                            // text tower's 20 x 77), and 160 (no tail, a 16-token partial panel).
                            (1, 16, 64), (2, 24, 100), (3, 8, 4), (4, 32, 192), (17, 40, 68), (577, 16, 36),
                            (1540, 8, 20), (160, 16, 12), (21, 8, 260)]
        struct ConvCase { var x: [Int]; var w: [Int]; var attrs: ConvAttrs }
        let convCases = [
            ConvCase(x: [1, 5, 9, 8], w: [7, 5, 3, 3], attrs: ConvAttrs(strides: [1, 2], pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 6, 7, 37], w: [11, 6, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [2, 9, 5, 70], w: [17, 9, 1, 1], attrs: ConvAttrs()),
            ConvCase(x: [1, 4, 9, 10], w: [8, 4, 3, 2], attrs: ConvAttrs(pads: [2, 0, 1, 3], dilations: [2, 3])),
            ConvCase(x: [1, 3, 40], w: [5, 3, 5], attrs: ConvAttrs(pads: [2, 2])),
            ConvCase(x: [1, 16, 6, 6], w: [24, 16, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 4, 6, 6], w: [6, 2, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 2)),
            ConvCase(x: [1, 3, 64, 64], w: [8, 3, 32, 32], attrs: ConvAttrs(strides: [32, 32])),
            // Direct path rows of 48-position tiles: 100 = 48 + 48 + a 32-wide tile of 4; 81 = 48 + 33.
            ConvCase(x: [1, 8, 3, 100], w: [10, 8, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 5, 2, 81], w: [9, 5, 1, 3], attrs: ConvAttrs(pads: [0, 1, 0, 1])),
            // Narrow rows (direct path stacks three 16-lane rows per tile): 13 rows = 4 tiles + 1, 12 wide, 16 wide.
            ConvCase(x: [1, 12, 13, 12], w: [20, 12, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 7, 5, 16], w: [9, 7, 1, 1], attrs: ConvAttrs()),
            // Two rows per tile (17 to 24 wide): 24 x 24 with an odd row count left over, 17 and 20 wide.
            ConvCase(x: [1, 16, 7, 24], w: [12, 16, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 5, 4, 17], w: [8, 5, 1, 1], attrs: ConvAttrs()),
            ConvCase(x: [1, 9, 5, 22], w: [10, 9, 3, 3], attrs: ConvAttrs(pads: [1, 0, 1, 0])),
            // Patch embeddings (stride = kernel) through QLinear's VNNI path: 2 x 35 positions (a
            // 32-token panel part and a 3-token tail), and a 4 x 2 patch over 45 positions. Case 7
            // above is one too (4 positions: the tail alone).
            ConvCase(x: [2, 3, 56, 40], w: [16, 3, 8, 8], attrs: ConvAttrs(strides: [8, 8])),
            ConvCase(x: [1, 2, 20, 18], w: [24, 2, 4, 2], attrs: ConvAttrs(strides: [4, 2])),
        ]
        let acts: [Activation] = [.gelu, .none, .relu, .leakyRelu(alpha: 0.2)]
        for (ci, c) in convCases.enumerated() {
            let g = try Convolution.convGeometry(c.x, c.w, c.attrs)
            if [7, convCases.count - 2, convCases.count - 1].contains(ci), lseg_i8_path_available(Int32(LSEG_I8_AVX512_VNNI)) != 0 {
                XCTAssertTrue(Int8Kernels.ConvLayout(path: Int32(LSEG_I8_AVX512_VNNI), g).patches, "conv \(ci) takes the patches path")
            }
            let cx = rng.floats(Tensor.elementCount(c.x), -1, 1), cw = quantizedWeight(c.w, &rng)
            let bias = rng.floats(c.w[0]), hasBias = ci % 2 == 0
            // A residual added before the activation: in the direct path's output stage, after the
            // products elsewhere; the same floats either way.
            let residual = ci % 3 != 0 ? rng.floats(g.batch * g.outChannels * g.outSize, -2, 2) : nil
            for zp in [Int32(0), 77, 255] {
                let q = (scale: Float(2.5) / 255, zeroPoint: zp)
                func run(_ path: Int32, prepared: PreparedWeights?) throws -> [Float] {
                    let ws = TensorStorage(byteCount: Int8Kernels.ConvLayout(path: path, g).bytes)
                    let ctx = ExecContext(threads: 2, workspace: ws.pointer, workspaceBytes: ws.byteCount, prepared: prepared)
                    var cy = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outSize)
                    let r = residual ?? []
                    try cx.withUnsafeBufferPointer { xp in
                        try bias.withUnsafeBufferPointer { bp in
                            try r.withUnsafeBufferPointer { rp in
                                try Int8Kernels.conv(path: path, g, x: xp.baseAddress!, weight: cw.weight.data.assumingMemoryBound(to: Int8.self),
                                                     weightScales: cw.weight.quant!.scales, bias: hasBias ? bp.baseAddress : nil, input: q,
                                                     activation: acts[ci % acts.count], residual: residual == nil ? nil : rp.baseAddress,
                                                     y: &cy, ctx)
                            }
                        }
                    }
                    return cy
                }
                let scalar = try run(Int32(LSEG_I8_SCALAR), prepared: nil)
                XCTAssertFalse(scalar.contains { $0.isNaN }, "conv \(ci): every output written")
                for path in paths {
                    let name = "conv \(ci) zp \(zp) \(Int8Kernels.pathName(path))"
                    XCTAssertEqual(try run(path, prepared: nil), scalar, name)
                    let prepared = PreparedWeights()
                    XCTAssertEqual(try run(path, prepared: prepared), scalar, name + " prepared")
                    XCTAssertGreaterThan(prepared.byteCount, 0, name)
                    XCTAssertEqual(try run(path, prepared: prepared), scalar, name + " prepared, second run")
                }
            }
        }
        for (li, (m, n, k)) in linearShapes.enumerated() {
            let x = rng.floats(m * k, -1, 1), w = quantizedWeight([n, k], &rng), bias = rng.floats(n)
            let q = try Int8Ops.inputQuant(inputQuant(x))
            func run(_ path: Int32, prepared: PreparedWeights?) throws -> [Float] {
                let ws = TensorStorage(byteCount: Int8Kernels.LinearLayout(path: path, m: m, n: n, k: k).bytes)
                let ctx = ExecContext(threads: 2, workspace: ws.pointer, workspaceBytes: ws.byteCount, prepared: prepared)
                var y = [Float](repeating: .nan, count: m * n)
                try x.withUnsafeBufferPointer { xp in
                    try bias.withUnsafeBufferPointer { bp in
                        try Int8Kernels.linear(path: path, m: m, n: n, k: k, x: xp.baseAddress!, weight: w.weight.data.assumingMemoryBound(to: Int8.self),
                                               weightScales: w.weight.quant!.scales, bias: li % 2 == 0 ? bp.baseAddress : nil, input: q,
                                               activation: acts[li % acts.count], y: &y, ctx)
                    }
                }
                return y
            }
            let scalar = try run(Int32(LSEG_I8_SCALAR), prepared: nil)
            XCTAssertFalse(scalar.contains { $0.isNaN }, "linear \(li): every output written")
            for path in paths {
                let name = "linear \(m)x\(n)x\(k) \(Int8Kernels.pathName(path))"
                XCTAssertEqual(try run(path, prepared: nil), scalar, name)
                let prepared = PreparedWeights()
                XCTAssertEqual(try run(path, prepared: prepared), scalar, name + " prepared")
                XCTAssertEqual(try run(path, prepared: prepared), scalar, name + " prepared, second run")
            }
        }
    }

    /// The AVX-512 VNNI quantizers (token panels, tail rows, the direct conv's padded layout)
    /// give the scalar quantizer's bytes (+128, unsigned) on hostile values: NaN, infinities,
    /// huge values, exact half-integer multiples of the scale and their float neighbours,
    /// subnormals; scales down to 1e-30 and a subnormal one; odd token counts and depths.
    /// QConvTranspose (a QLinear of the transposed input, then the scatter): the same floats on
    /// every path (kernel 4x4 as DPT's, 2x2, 2x3, batch 2, with and without bias and activation).
    func testQConvTransposeIdenticalAcrossPaths() throws {
        var rng = SeededRandom(seed: 41)
        let paths = [Int32(LSEG_I8_AVX2), Int32(LSEG_I8_AVX512_VNNI), Int32(LSEG_I8_NEON), Int32(LSEG_I8_NEON_DOT)]
            .filter { lseg_i8_path_available($0) != 0 }
        let cases = [(1, 16, 3, 5, 8, 4, 4), (2, 12, 4, 3, 5, 2, 2), (1, 8, 2, 50, 3, 2, 3), (1, 32, 6, 6, 32, 2, 2)]
        for (ci, (n, cin, h, w, cout, kh, kw)) in cases.enumerated() {
            let s = Int8Ops.TransposeShapes(batch: n, inChannels: cin, height: h, width: w, outChannels: cout, kh: kh, kw: kw)
            let x = rng.floats(n * cin * h * w, -1, 1), weight = quantizedWeight([s.rows, cin], &rng), bias = rng.floats(cout)
            let q = try Int8Ops.inputQuant(inputQuant(x))
            let activation: Activation = ci % 2 == 0 ? .none : .relu
            func run(_ path: Int32) throws -> [Float] {
                let ws = TensorStorage(byteCount: Int8Kernels.convTransposeWorkspace(path: path, s))
                let ctx = ExecContext(threads: 2, workspace: ws.pointer, workspaceBytes: ws.byteCount)
                var y = [Float](repeating: .nan, count: Tensor.elementCount(s.output))
                try x.withUnsafeBufferPointer { xp in
                    try bias.withUnsafeBufferPointer { bp in
                        try Int8Kernels.convTranspose(path: path, s, x: xp.baseAddress!,
                                                      weight: weight.weight.data.assumingMemoryBound(to: Int8.self),
                                                      weightScales: weight.weight.quant!.scales, bias: ci < 2 ? bp.baseAddress : nil,
                                                      input: q, activation: activation, y: &y, ctx)
                    }
                }
                return y
            }
            let scalar = try run(Int32(LSEG_I8_SCALAR))
            XCTAssertFalse(scalar.contains { $0.isNaN }, "case \(ci): every output written")
            for path in paths { XCTAssertEqual(try run(path), scalar, "case \(ci) \(Int8Kernels.pathName(path))") }
        }
    }

    func testVNNIQuantizersMatchScalarOnHostileValues() throws {
        guard lseg_cpu_has_avx512_vnni() != 0 else {
            // Without VNNI these quantizers are never dispatched: that much must hold here.
            XCTAssertEqual(lseg_i8_path_available(Int32(LSEG_I8_AVX512_VNNI)), 0)
            return
        }
        var rng = SeededRandom(seed: 77)
        func hostile(_ n: Int, _ scale: Float) -> [Float] {
            (0..<n).map { _ in
                let half = (Float(Int.random(in: -300...300, using: &rng)) + 0.5) * scale
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: return .nan
                case 1: return .infinity
                case 2: return -.infinity
                case 3: return Bool.random(using: &rng) ? 3e38 : -3e38
                case 4: return half
                case 5: return half.nextUp
                case 6: return half.nextDown
                case 7: return 1e-40
                default: return Float.random(in: -200...200, using: &rng) * scale
                }
            }
        }
        let tokens = Int(LSEG_I8_VNNI_TOKENS)
        for scale: Float in [0.01, 1.0 / 3, 2.5 / 255, 7, 1e-30, 1e-39] {
            for zp: Int32 in [0, 3, 128, 255] {
                let name = "scale \(scale) zp \(zp)"
                for (m, k) in [(50, 36), (97, 20), (5, 68)] {
                    let x = hostile(m * k, scale)
                    var ref = [Int8](repeating: 0, count: m * k)
                    lseg_i8_quantize(x, Int64(m * k), scale, zp, &ref)
                    let panels = (m + tokens - 1) / tokens
                    var cols = [UInt8](repeating: 0, count: panels * tokens * k)
                    lseg_i8_vnni_quantize_cols(x, Int64(k), Int64(m), Int64(k), scale, zp, 0, Int64(panels), &cols)
                    var rows = [UInt8](repeating: 0, count: m * k)
                    lseg_i8_vnni_quantize_tail(x, Int64(k), Int64(m), Int64(k), scale, zp, &rows)
                    var panelBad = 0, rowBad = 0, padBad = 0
                    for j in 0..<(panels * tokens) {
                        for c in 0..<k {
                            let v = cols[(j / tokens) * k * tokens + (c / 4) * tokens * 4 + (j % tokens) * 4 + c % 4]
                            if j >= m { if v != 128 { padBad += 1 }; continue }
                            let want = UInt8(Int(ref[j * k + c]) + 128)
                            if v != want { panelBad += 1 }
                            if rows[j * k + c] != want { rowBad += 1 }
                        }
                    }
                    XCTAssertEqual(panelBad, 0, "\(name) \(m)x\(k) panels")
                    XCTAssertEqual(padBad, 0, "\(name) \(m)x\(k) panel padding is the shifted zero")
                    XCTAssertEqual(rowBad, 0, "\(name) \(m)x\(k) tail rows")
                }
                // Direct conv layout [Hp][ceil(C/4)][Wp][4], 3x3 window with padding 1.
                let (c, h, w) = (5, 3, 37)
                var win = lseg_i8_window(channels: Int64(c), height: Int64(h), width: Int64(w), out_height: Int64(h), out_width: Int64(w),
                                         kernel_h: 3, kernel_w: 3, stride_h: 1, stride_w: 1, pad_h: 1, pad_w: 1, dilation_h: 1, dilation_w: 1)
                let x = hostile(c * h * w, scale)
                var ref = [Int8](repeating: 0, count: c * h * w)
                lseg_i8_quantize(x, Int64(c * h * w), scale, zp, &ref)
                var xq = [UInt8](repeating: 0, count: Int(lseg_i8_direct_input_bytes(&win)))
                lseg_i8_direct_quantize_input(x, &win, scale, zp, 0, Int64((c + 3) / 4), &xq)
                let wp = w + 2, row = (c + 3) / 4 * wp * 4
                var bad = 0
                for ch in 0..<c { for y in 0..<h { for xx in 0..<w {
                    if xq[(y + 1) * row + (ch / 4) * wp * 4 + (xx + 1) * 4 + ch % 4] != UInt8(Int(ref[(ch * h + y) * w + xx]) + 128) { bad += 1 }
                } } }
                XCTAssertEqual(bad, 0, "\(name) direct conv input")
            }
        }
    }

    /// This x86 machine class has AVX-512 VNNI and the dispatcher picks it; elsewhere the
    /// detection must agree with the best path.
    func testBestPathUsesVNNIWhenDetected() {
        if lseg_cpu_has_avx512_vnni() != 0 {
            XCTAssertEqual(lseg_i8_best_path(), Int32(LSEG_I8_AVX512_VNNI))
        } else {
            XCTAssertNotEqual(lseg_i8_best_path(), Int32(LSEG_I8_AVX512_VNNI))
            XCTAssertEqual(lseg_i8_path_available(Int32(LSEG_I8_AVX512_VNNI)), 0)
        }
    }

    /// Session builds constant views with TensorView(Tensor): the weight's scales must arrive.
    func testSessionPassesWeightQuantization() throws {
        var rng = SeededRandom(seed: 51)
        let w = quantizedWeight([5, 8], &rng)
        let xq = QuantParams(scales: [0.01], zeroPoints: [120])
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.symbol("M"), .fixed(8)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        g.initializers["w"] = w.weight
        g.nodes = [Node(name: "fc", op: .qLinear(QLinearAttrs(input: xq, activation: .relu)), inputs: ["x", "w"], outputs: ["y"])]
        let x = rng.floats(3 * 8)
        let plan = try Plan(graph: g, inputShapes: ["x": [3, 8]])
        let out = try Session(plan: plan, threads: 2).run(["x": f32(x, [3, 8])])
        let expected = try eval1(.qLinear(QLinearAttrs(input: xq, activation: .relu)), [f32(x, [3, 8]), w.weight])
        XCTAssertEqual(out["y"]!.scalars(as: Float.self), expected.scalars(as: Float.self))
        XCTAssertTrue(out["y"]!.scalars(as: Float.self).contains { $0 > 0 }, "a non-trivial output")
    }

    func testErrorMessages() {
        var rng = SeededRandom(seed: 61)
        let w = quantizedWeight([4, 6], &rng)
        let x = f32(rng.floats(12), [2, 6])
        let q = QuantParams(scales: [0.02], zeroPoints: [128])
        let op = Op.qLinear(QLinearAttrs(input: q))
        assertOpError(op, [x, f32(rng.floats(24), [4, 6])], "weight must be int8")
        var noQuant = w.weight
        noQuant.quant = nil
        assertOpError(op, [x, noQuant], "no quantization parameters")
        var wrongCount = w.weight
        wrongCount.quant = QuantParams(scales: [0.1, 0.2, 0.3], zeroPoints: [0, 0, 0], axis: 0)
        assertOpError(op, [x, wrongCount], "3 scales for 4 output channels")
        var nonZero = w.weight
        nonZero.quant = QuantParams(scales: [0.1, 0.1, 0.1, 0.1], zeroPoints: [0, 1, 0, 0], axis: 0)
        assertOpError(op, [x, nonZero], "zero points must be 0")
        assertOpError(.qLinear(QLinearAttrs(input: QuantParams(scales: [0.02], zeroPoints: [300]))), [x, w.weight], "zero point 300")
        assertOpError(.qLinear(QLinearAttrs(input: QuantParams(scales: [0], zeroPoints: [0]))), [x, w.weight], "scale 0.0")
        assertOpError(op, [f32(rng.floats(10), [2, 5]), w.weight], "does not match input depth")
        assertOpError(op, [x, w.weight, f32([1, 2], [2])], "bias [2] must be [4]")
        let conv = Op.qConv(QConvAttrs(conv: ConvAttrs(), input: q))
        let cw = quantizedWeight([4, 3, 3, 3], &rng)
        assertOpError(conv, [f32(rng.floats(3 * 25), [1, 3, 5, 5]), f32(rng.floats(108), [4, 3, 3, 3])], "weight must be int8")
        var cwBad = cw.weight
        cwBad.quant = QuantParams(scales: [0.1], zeroPoints: [0], axis: 0)
        assertOpError(conv, [f32(rng.floats(3 * 25), [1, 3, 5, 5]), cwBad], "1 scales for 4 output channels")
        assertOpError(conv, [f32(rng.floats(2 * 25), [1, 2, 5, 5]), cw.weight], "input channels")
        let w3 = quantizedWeight([2, 1, 1, 1, 1], &rng)
        assertOpError(conv, [f32(rng.floats(8), [1, 1, 2, 2, 2]), w3.weight], "1-D and 2-D")
    }
}
