import XCTest
import CKernels
@testable import Runtime
import TestSupport

/// The GEMM epilogue's GELU (AVX-512 where available) gives the same bits as the elementwise
/// GELU (AVX2 / portable), so fused and unfused graphs and every int8 path agree exactly.
final class BiasActivationTests: XCTestCase {
    func testEpilogueGeluMatchesElementwiseGeluBitExactly() {
        var rng = SeededRandom(seed: 0x6E1)
        // Ordinary activations, the polynomial switch points, large magnitudes, and rows of 32
        // (one int8 tile), 33 and 7 wide so vector bodies and tails both run.
        var values = rng.floats(4096, -6, 6) + rng.floats(1024, -200, 200)
        values += [0, -0, 1, -1, 4, -4, 0.9999999, 1.0000001, 5.656854, -5.656854, 1e-30, -1e-30, 88, -88, 1e30, -1e30,
                   .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for cols in [32, 33, 7] {
            let rows = values.count / cols
            var fused = Array(values.prefix(rows * cols))
            lseg_bias_activation(&fused, Int64(rows), Int64(cols), Int64(cols), nil, nil, Int32(LSEG_ACT_GELU), 0)
            for simd: Int32 in [1, 0] {
                let source = Array(values.prefix(rows * cols))
                var plain = [Float](repeating: .nan, count: source.count)
                lseg_unary_f32_variant(Int32(LSEG_UN_GELU_ERF.rawValue), source, &plain, source.count, simd)
                if simd == 1 || lseg_cpu_has_avx2() == 0 {
                    XCTAssertEqual(fused.map(\.bitPattern), plain.map(\.bitPattern), "cols \(cols) simd \(simd)")
                }
            }
        }
    }

    /// Rows narrower than their stride (an int8 tile's 32 or 48 channels of a wider output) are
    /// gathered into one run for the GELU: same bits as the elementwise GELU row by row, with
    /// bias, and the gaps between rows untouched.
    func testStridedRowsGetTheSameBitsAndGapsStayUntouched() {
        var rng = SeededRandom(seed: 0x6E2)
        for (cols, ld, rows) in [(32, 3072, 145), (48, 100, 77), (7, 9, 300), (250, 260, 20)] {
            let source = rng.floats(rows * ld, -6, 6)
            let bias = rng.floats(cols, -1, 1)
            var fused = source
            lseg_bias_activation(&fused, Int64(rows), Int64(cols), Int64(ld), bias, nil, Int32(LSEG_ACT_GELU), 0)
            for r in 0..<rows {
                let row = (0..<cols).map { source[r * ld + $0] + bias[$0] }
                var plain = [Float](repeating: .nan, count: cols)
                lseg_unary_f32_variant(Int32(LSEG_UN_GELU_ERF.rawValue), row, &plain, cols, 1)
                if lseg_cpu_has_avx2() != 0 {
                    XCTAssertEqual(Array(fused[(r * ld)..<(r * ld + cols)]).map(\.bitPattern), plain.map(\.bitPattern),
                                   "cols \(cols) ld \(ld) row \(r)")
                }
                XCTAssertEqual(Array(fused[(r * ld + cols)..<(r * ld + ld)]).map(\.bitPattern),
                               Array(source[(r * ld + cols)..<(r * ld + ld)]).map(\.bitPattern), "gap after row \(r)")
            }
        }
    }

    /// Row and column biases together, odd row counts and widths on both sides of a vector (rows
    /// with a stride just past their width): same bits as bias-then-GELU row by row, gaps untouched.
    func testEpilogueGeluOnStridedRowsWithBiasesMatchesRowByRow() {
        var rng = SeededRandom(seed: 0x6E3)
        for (rows, cols) in [(5, 32), (4, 33), (3, 7), (3, 130), (1, 32)] {
            let ld = cols + 3
            let input = rng.floats(rows * ld, -6, 6)
            let colBias = rng.floats(cols, -1, 1)
            let rowBias = rng.floats(rows, -1, 1)
            var fused = input
            lseg_bias_activation(&fused, Int64(rows), Int64(cols), Int64(ld), colBias, rowBias, Int32(LSEG_ACT_GELU), 0)
            for r in 0..<rows {
                let biased = (0..<cols).map { input[r * ld + $0] + (colBias[$0] + rowBias[r]) }
                var expected = [Float](repeating: .nan, count: cols)
                lseg_unary_f32_variant(Int32(LSEG_UN_GELU_ERF.rawValue), biased, &expected, cols, 1)
                if lseg_cpu_has_avx2() != 0 {
                    XCTAssertEqual(Array(fused[(r * ld)..<(r * ld + cols)]).map(\.bitPattern), expected.map(\.bitPattern),
                                   "rows \(rows) cols \(cols) row \(r)")
                }
                XCTAssertEqual(Array(fused[(r * ld + cols)..<(r * ld + ld)]), Array(input[(r * ld + cols)..<(r * ld + ld)]))
            }
        }
    }
}
