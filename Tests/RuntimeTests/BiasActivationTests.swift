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
}
