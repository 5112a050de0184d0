import XCTest
import Runtime
import TestSupport
@testable import Quantize

final class RangeEstimatorTests: XCTestCase {
    func histogram(_ values: [Float]) -> RangeHistogram {
        var h = RangeHistogram()
        h.add(values)
        return h
    }

    func testMinMaxCoversObservedRangeAndZero() {
        let r = RangeEstimator.range(histogram([0.5, 2, 3.25, 1]), method: .minmax)
        XCTAssertEqual(r.lower, 0)   // zero is always representable
        XCTAssertEqual(r.upper, 3.25)
        let s = RangeEstimator.range(histogram([-4, -1, 2]), method: .minmax)
        XCTAssertEqual(s.lower, -4); XCTAssertEqual(s.upper, 2)
        let p = s.uint8Params
        XCTAssertEqual(p.scales[0], 6 / 255, accuracy: 1e-7)
        XCTAssertEqual(p.zeroPoints[0], 170)   // round(4 / (6/255)) = 170
    }

    func testPercentileOfUniformValues() {
        let values = (0..<100_000).map { Float($0) / 100_000 }
        let r = RangeEstimator.range(histogram(values), method: .percentile, percentile: 99)
        XCTAssertEqual(r.upper, 0.99, accuracy: 0.002)
        XCTAssertEqual(r.lower, 0)
        let full = RangeEstimator.range(histogram(values), method: .percentile, percentile: 100)
        XCTAssertEqual(full.upper, values.max()!, accuracy: 1e-6)
    }

    func testPercentileClipsRareOutliers() {
        var rng = SeededRandom(seed: 3)
        var values = rng.floats(100_000, -1, 1)
        values[17] = 50; values[99] = -40
        let r = RangeEstimator.range(histogram(values), method: .percentile, percentile: 99.9)
        XCTAssertLessThan(r.upper, 1.1); XCTAssertGreaterThan(r.upper, 0.9)
        XCTAssertGreaterThan(r.lower, -1.1); XCTAssertLessThan(r.lower, -0.9)
    }

    func testEntropyClipsGaussianTailButKeepsBulk() {
        var rng = SeededRandom(seed: 11)
        // Box-Muller normal values, sigma 1, and a far outlier.
        var values: [Float] = []
        for _ in 0..<50_000 {
            let u = rng.floats(2, 1e-7, 1)
            let r = (-2 * log(Double(u[0]))).squareRoot()
            values.append(Float(r * cos(2 * .pi * Double(u[1]))))
            values.append(Float(r * sin(2 * .pi * Double(u[1]))))
        }
        values.append(40)
        let r = RangeEstimator.range(histogram(values), method: .entropy)
        XCTAssertLessThan(r.upper, 20, "the lone outlier must be clipped")
        XCTAssertGreaterThan(r.upper, 2, "the bulk of the distribution must be kept")
        XCTAssertLessThan(r.lower, -2)
        XCTAssertFalse(r.isFallback)
    }

    func testEntropyKeepsUniformRange() {
        // A uniform distribution has no tail worth clipping: the threshold stays near the max.
        let values = (0..<200_000).map { Float($0 % 1000) / 1000 * 8 }
        let r = RangeEstimator.range(histogram(values), method: .entropy)
        XCTAssertGreaterThan(r.upper, 7.0)
        XCTAssertLessThanOrEqual(r.upper, 8.0)
    }

    func testNonFiniteValuesAreIgnored() {
        let h = histogram([-.infinity, 1, .nan, 2, .infinity, -0.5])
        XCTAssertEqual(h.nonFiniteCount, 3)
        XCTAssertEqual(h.finiteCount, 3)
        for m in RangeMethod.allCases {
            let r = RangeEstimator.range(h, method: m, percentile: 100)
            XCTAssertTrue(r.lower.isFinite && r.upper.isFinite, "\(m)")
            XCTAssertEqual(r.upper, 2, accuracy: 0.01, "\(m)")
            XCTAssertEqual(r.lower, -0.5, accuracy: 0.01, "\(m)")
        }
    }

    func testNoFiniteValuesOrZeroRangeFallBack() {
        for m in RangeMethod.allCases {
            let allInf = RangeEstimator.range(histogram([-.infinity, .nan, .infinity]), method: m)
            XCTAssertTrue(allInf.isFallback); XCTAssertEqual(allInf.upper - allInf.lower, 1)
            let zeros = RangeEstimator.range(histogram([Float](repeating: 0, count: 100)), method: m)
            XCTAssertTrue(zeros.isFallback)
            XCTAssertGreaterThan(zeros.uint8Params.scales[0], 0)
            let empty = RangeEstimator.range(RangeHistogram(), method: m)
            XCTAssertTrue(empty.isFallback)
        }
    }

    func testConstantTensorKeepsItsValue() {
        for m in RangeMethod.allCases {
            let r = RangeEstimator.range(histogram([Float](repeating: 3, count: 1000)), method: m, percentile: 99)
            XCTAssertEqual(r.lower, 0)
            XCTAssertEqual(r.upper, 3, accuracy: 0.01, "\(m)")
            XCTAssertFalse(r.isFallback)
        }
    }
}

final class RangeHistogramTests: XCTestCase {
    func testGrowingRangeKeepsEveryCount() {
        var h = RangeHistogram(bins: 64)
        h.add([0.1, 0.2, -0.05])
        h.add([100, -300])   // range doubles many times on both sides
        XCTAssertEqual(h.positive.reduce(0, +), 3)
        XCTAssertEqual(h.negative.reduce(0, +), 2)
        XCTAssertGreaterThanOrEqual(h.positiveRange, 100)
        XCTAssertGreaterThanOrEqual(h.negativeRange, 300)
        XCTAssertEqual(h.minimum, -300); XCTAssertEqual(h.maximum, 100)
        // Values land in the bin of their magnitude after rebinning.
        XCTAssertEqual(h.positive[Int(100 / h.positiveRange * 64)], 1)
    }

    func testMergeEqualsStreamingEverything() {
        var rng = SeededRandom(seed: 5)
        let a = rng.floats(5000, -0.3, 0.7)
        let b = rng.floats(5000, -20, 9)
        var streamed = RangeHistogram()
        streamed.add(a); streamed.add(b)
        var ha = RangeHistogram(), hb = RangeHistogram()
        ha.add(a); hb.add(b)
        var merged = ha
        merged.merge(hb)
        XCTAssertEqual(merged, streamed)
        var other = hb
        other.merge(ha)
        XCTAssertEqual(other, streamed)
    }
}
