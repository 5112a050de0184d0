import XCTest
import Runtime
import TestSupport
@testable import Quantize

final class WeightQuantizationTests: XCTestCase {
    func testPerChannelErrorIsAtMostHalfAStep() {
        var rng = SeededRandom(seed: 2)
        var values = rng.floats(4 * 50)
        for i in 50..<100 { values[i] *= 100 }   // channel 1 is 100x larger: its own scale
        for i in 100..<150 { values[i] = 0 }     // an all-zero channel
        let w = Tensor.float32(values, shape: [4, 50])
        let q = WeightQuantization.int8(w, axis: 0)
        XCTAssertEqual(q.dtype, .int8)
        XCTAssertEqual(q.quant?.scales.count, 4)
        XCTAssertEqual(q.quant?.zeroPoints, [0, 0, 0, 0])
        let back = WeightQuantization.dequantized(q)
        for i in 0..<values.count {
            let s = q.quant!.scales[i / 50]
            XCTAssertLessThanOrEqual(abs(back[i] - values[i]), s / 2 + 1e-6, "element \(i)")
        }
        XCTAssertEqual(q.quant!.scales[2], 1)
        XCTAssertTrue(back[100..<150].allSatisfy { $0 == 0 })
        XCTAssertLessThan(q.quant!.scales[0], q.quant!.scales[1] / 50)
    }

    func testAxisOneChannels() {
        let w = Tensor.float32([1, 10, -2, 20, 0.5, -40], shape: [3, 2])
        let q = WeightQuantization.int8(w, axis: 1)
        XCTAssertEqual(q.quant!.scales, [2 / 127, 40 / 127])
        XCTAssertEqual(q.scalars(as: Int8.self), [64, 32, -127, 64, 32, -127])
    }
}
