import CKernels
@testable import Runtime
import TestSupport
import XCTest

/// int8 Winograd F(2x2, 3x3) (int8_winograd.c): the AVX-512 VNNI kernel against the scalar
/// reference bit for bit, its error against the exact float convolution (it is lossy by design:
/// int8 in the Winograd domain), and QConv's choice of it.
final class Int8WinogradTests: XCTestCase {
    private var vnni: Bool { lseg_i8_path_available(Int32(LSEG_I8_AVX512_VNNI)) != 0 }

    private struct Layer {
        var c, k, h, w: Int
        var x: [Float], weight: [Int8], scales: [Float], bias: [Float]?, residual: [Float]?
        var window: lseg_i8_window {
            lseg_i8_window(channels: Int64(c), height: Int64(h), width: Int64(w), out_height: Int64(h), out_width: Int64(w),
                           kernel_h: 3, kernel_w: 3, stride_h: 1, stride_w: 1, pad_h: 1, pad_w: 1, dilation_h: 1, dilation_w: 1)
        }
    }

    private func layer(c: Int, k: Int, h: Int, w: Int, bias: Bool, residual: Bool, smooth: Bool = false,
                       _ rng: inout SeededRandom) -> Layer {
        var x = rng.floats(c * h * w, -1, 2)
        if smooth {
            // Feature-map-like: a slow ramp per channel plus a little noise.
            for ch in 0..<c {
                let a = Float.random(in: 0.5...2, using: &rng), f = Float.random(in: 0.05...0.3, using: &rng)
                for i in 0..<(h * w) {
                    let r = Float(i / w), col = Float(i % w)
                    x[ch * h * w + i] = a * sinf(f * (r + 0.7 * col)) + 0.1 * x[ch * h * w + i]
                }
            }
        }
        let weight = (0..<(k * c * 9)).map { _ in Int8(Int.random(in: -127...127, using: &rng)) }
        let scales = (0..<k).map { _ in Float.random(in: 0.001..<0.02, using: &rng) }
        return Layer(c: c, k: k, h: h, w: w, x: x, weight: weight, scales: scales, bias: bias ? rng.floats(k) : nil,
                     residual: residual ? rng.floats(k * h * w, -2, 2) : nil)
    }

    private func packed(_ l: Layer) -> TensorStorage {
        var win = l.window
        let store = TensorStorage(byteCount: Int(lseg_i8_winograd_weights_bytes(Int64(l.k), &win)))
        l.scales.withUnsafeBufferPointer { lseg_i8_winograd_pack_weights(l.weight, $0.baseAddress, Int64(l.k), &win, store.pointer) }
        return store
    }

    /// Bit-for-bit equality, reported as the mismatch count and the first one (not two arrays).
    private func assertSameBits(_ a: [Float], _ b: [Float], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        let bad = zip(a, b).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        if let first = bad.first {
            XCTFail("\(message): \(bad.count) of \(a.count) differ, first at \(first.offset): \(first.element.0) vs \(first.element.1)",
                    file: file, line: line)
        }
    }

    /// Runs blocks [0, blocks) through the kernel (vector = true, one scratch) or the reference.
    private func run(_ l: Layer, lo: Float, hi: Float, act: Activation, vector: Bool) -> [Float] {
        var win = l.window
        let weights = packed(l)
        let scratch = TensorStorage(byteCount: Int(lseg_i8_winograd_scratch_bytes(&win)))
        var y = [Float](repeating: .nan, count: l.k * l.h * l.w)
        let (code, alpha) = act.kernelCode
        let blocks = lseg_i8_winograd_blocks(&win)
        let bias = l.bias ?? [], residual = l.residual ?? []
        y.withUnsafeMutableBufferPointer { yp in
            bias.withUnsafeBufferPointer { bp in
                residual.withUnsafeBufferPointer { rp in
                    var ep = lseg_i8_epilogue(y: yp.baseAddress, ldy: Int64(l.h * l.w), channel_axis: 0, zp_shift: 0, rowsum: nil,
                                              scale: nil, bias: l.bias == nil ? nil : bp.baseAddress, act: code, alpha: alpha,
                                              residual: l.residual == nil ? nil : rp.baseAddress)
                    if vector {
                        // Two calls, as threads split the blocks.
                        let half = blocks / 2
                        lseg_i8_winograd_conv(l.x, lo, hi, weights.pointer, Int64(l.k), &win, 0, half, scratch.pointer, &ep)
                        lseg_i8_winograd_conv(l.x, lo, hi, weights.pointer, Int64(l.k), &win, half, blocks, scratch.pointer, &ep)
                    } else {
                        lseg_i8_winograd_reference(l.x, lo, hi, weights.pointer, Int64(l.k), &win, 0, blocks, &ep)
                    }
                }
            }
        }
        return y
    }

    /// The VNNI kernel gives the reference's floats exactly: odd sizes, channels off the 4- and
    /// 8-wide groups, rows of several 48-tile blocks and partial ones, clamping with a nonzero
    /// zero point, hostile input values, every activation, with and without bias and residual.
    func testVNNIKernelMatchesReferenceBitForBit() throws {
        guard vnni else {
            // Without VNNI the kernel must never be chosen (the reference alone is tested below).
            let g = try Convolution.convGeometry([1, 256, 96, 96], [256, 256, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
            XCTAssertFalse(Int8Kernels.ConvLayout(path: Int8Kernels.path, g).winograd)
            return
        }
        var rng = SeededRandom(seed: 71)
        // (C, K, H, W). Rows of at least 16 tiles (W >= 31) run in blocks of 48 consecutive tiles
        // whose vectors may straddle two rows: 100 wide (50 tiles a row), 33 (17), 194 (97), 48 x 9
        // (24 tiles, odd row count), 40 (20), 31 (16); narrower rows get a block each.
        let shapes = [(5, 11, 7, 9), (64, 24, 12, 100), (16, 8, 1, 1), (3, 9, 2, 33), (70, 16, 5, 96), (8, 8, 3, 194),
                      (12, 17, 4, 2), (33, 8, 6, 31), (16, 8, 9, 48), (9, 8, 7, 40), (4, 8, 5, 33)]
        let acts: [Activation] = [.relu, .none, .gelu, .leakyRelu(alpha: 0.1), .quickGelu]
        for (i, (c, k, h, w)) in shapes.enumerated() {
            var l = layer(c: c, k: k, h: h, w: w, bias: i % 2 == 0, residual: i % 3 != 1, &rng)
            if i == 1 {
                for (j, v) in [Float.nan, .infinity, -.infinity, 1e30, -1e30, .leastNonzeroMagnitude].enumerated() {
                    l.x[j * 37 % l.x.count] = v
                }
            }
            for (lo, hi) in [(Float(0), Float(1.5)), (Float(-0.8), Float(1.7))] {
                let act = acts[i % acts.count]
                let ref = run(l, lo: lo, hi: hi, act: act, vector: false)
                XCTAssertFalse(ref.contains { $0.isNaN }, "case \(i): every output written")
                let vec = run(l, lo: lo, hi: hi, act: act, vector: true)
                assertSameBits(vec, ref, "case \(i) (\(c) -> \(k), \(h) x \(w)) lo \(lo)")
            }
        }
    }

    /// Relative RMS error against the float convolution of the clamped input with the dequantized
    /// weights: bounded, and within a few times the direct int8 path's (measured on these
    /// layers: 8.0e-3 vs 1.3e-3 on uniform noise, 8.0e-3 vs 2.1e-3 on smooth maps; a wrong sign or
    /// point in a transform gives errors near 1).
    func testErrorAgainstFloatConvolution() throws {
        var rng = SeededRandom(seed: 72)
        for (smooth, bound) in [(false, Float(0.012)), (true, Float(0.012))] {
            let l = layer(c: 32, k: 8, h: 10, w: 20, bias: true, residual: false, smooth: smooth, &rng)
            let lo: Float = 0, hi: Float = 1.6
            let y = run(l, lo: lo, hi: hi, act: .none, vector: false)
            let g = try Convolution.convGeometry([1, l.c, l.h, l.w], [l.k, l.c, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
            let wd = l.weight.enumerated().map { Float($0.element) * l.scales[$0.offset / (l.c * 9)] }
            let clamped = l.x.map { Swift.min(Swift.max($0, lo), hi) }
            let exact = ConvolutionKernels.referenceConv(g, x: clamped, weight: wd, bias: l.bias, activation: .none)
            // The direct int8 path's error on the same layer: uint8 input with the static scale.
            let scale = hi / 255
            let fq = clamped.map { Float(QuantizationKernels.quantizeOne($0, scale, 0, 0, 255)) * scale }
            let direct = ConvolutionKernels.referenceConv(g, x: fq, weight: wd, bias: l.bias, activation: .none)
            func rel(_ a: [Float]) -> Float {
                var e = 0.0, n = 0.0
                for i in 0..<a.count {
                    let b = Double(exact[i]) - (l.bias.map { Double($0[i / (l.h * l.w)]) } ?? 0)
                    e += Double(a[i] - exact[i]) * Double(a[i] - exact[i]); n += b * b
                }
                return Float((e / n).squareRoot())
            }
            let wino = rel(y), base = rel(direct)
            XCTAssertLessThan(wino, bound, "smooth \(smooth): Winograd error")
            XCTAssertLessThan(wino, 8 * base, "smooth \(smooth): Winograd error \(wino) vs direct \(base)")
            XCTAssertGreaterThan(base, 0, "smooth \(smooth)")
        }
    }

    /// QConv takes the Winograd path only where it pays (VNNI, 3x3 stride 1 padding 1, >= 64
    /// input and >= 128 output channels, >= 24 wide), and through Int8Kernels.conv (threads, prepared weights,
    /// batch 2) gives the reference's floats.
    func testQConvTakesWinogradWhereItPays() throws {
        let vnniPath = Int32(LSEG_I8_AVX512_VNNI)
        func takesWinograd(_ x: [Int], _ w: [Int], _ attrs: ConvAttrs = ConvAttrs(pads: [1, 1, 1, 1]), allowed: Bool = true) throws -> Bool {
            Int8Kernels.ConvLayout(path: vnniPath, try Convolution.convGeometry(x, w, attrs), winograd: allowed).winograd
        }
        XCTAssertEqual(try takesWinograd([1, 64, 10, 24], [128, 64, 3, 3]), vnni)
        XCTAssertFalse(try takesWinograd([1, 64, 10, 24], [128, 64, 3, 3], allowed: false))
        XCTAssertFalse(try takesWinograd([1, 32, 10, 24], [128, 32, 3, 3]), "too few input channels")
        XCTAssertFalse(try takesWinograd([1, 64, 10, 24], [64, 64, 3, 3]), "too few output channels")
        XCTAssertFalse(try takesWinograd([1, 64, 10, 16], [128, 64, 3, 3]), "too narrow")
        XCTAssertFalse(try takesWinograd([1, 64, 10, 24], [128, 64, 3, 3], ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1])), "strided")
        XCTAssertFalse(try takesWinograd([1, 64, 10, 24], [128, 64, 3, 3], ConvAttrs(pads: [0, 0, 0, 0])), "unpadded")
        XCTAssertFalse(try takesWinograd([1, 64, 10, 24], [128, 32, 3, 3], ConvAttrs(pads: [1, 1, 1, 1], group: 2)), "grouped")
        XCTAssertFalse(Int8Kernels.ConvLayout(path: Int32(LSEG_I8_AVX2), try Convolution.convGeometry([1, 64, 10, 24], [128, 64, 3, 3],
                                                                                                     ConvAttrs(pads: [1, 1, 1, 1]))).winograd)
        guard vnni else { return }  // the choice above is all a CPU without VNNI runs

        var rng = SeededRandom(seed: 73)
        let (c, k, h, w) = (64, 136, 9, 50)
        let g = try Convolution.convGeometry([2, c, h, w], [k, c, 3, 3], ConvAttrs(pads: [1, 1, 1, 1]))
        let items = [layer(c: c, k: k, h: h, w: w, bias: true, residual: true, &rng),
                     layer(c: c, k: k, h: h, w: w, bias: true, residual: true, &rng)]
        var second = items[1]
        second.weight = items[0].weight; second.scales = items[0].scales; second.bias = items[0].bias
        let x = items[0].x + second.x, residual = items[0].residual! + second.residual!
        let q = (scale: Float(1.9) / 255, zeroPoint: Int32(40))
        let (lo, hi) = (-40 * q.scale, 215 * q.scale)
        let expected = run(items[0], lo: lo, hi: hi, act: .relu, vector: false) + run(second, lo: lo, hi: hi, act: .relu, vector: false)
        let layout = Int8Kernels.ConvLayout(path: vnniPath, g)
        XCTAssertTrue(layout.winograd)
        let ws = TensorStorage(byteCount: layout.bytes)
        let prepared = PreparedWeights()
        for threads in [1, 2, 2] {
            let ctx = ExecContext(threads: threads, workspace: ws.pointer, workspaceBytes: ws.byteCount, prepared: prepared)
            var y = [Float](repeating: .nan, count: 2 * k * h * w)
            let bias = items[0].bias!
            try bias.withUnsafeBufferPointer { bp in
                try residual.withUnsafeBufferPointer { rp in
                    try Int8Kernels.conv(path: vnniPath, g, x: x, weight: items[0].weight, weightScales: items[0].scales,
                                         bias: bp.baseAddress, input: q, activation: .relu, residual: rp.baseAddress, y: &y, ctx)
                }
            }
            assertSameBits(y, expected, "threads \(threads)")
        }
        XCTAssertGreaterThan(prepared.byteCount, 0)
    }
}
