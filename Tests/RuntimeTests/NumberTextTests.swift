import Foundation
import TestSupport
import XCTest
@testable import Runtime

/// NumberText replaces String(format:) in the device build: it must write what printf writes.
final class NumberTextTests: XCTestCase {
    func testFixedAndGeneralMatchStringFormat() {
        var rng = SeededRandom(seed: 11)
        var values: [Double] = [0, -0.0, 0.05, 0.15, 0.25, 1, -1, 9.95, 99.95, 1e6, 123456.789, 1e-5, -2.5e-7,
                                1e300, -1e300, .infinity, -.infinity, .nan, .pi, 1.0 / 3.0, 5e-324]
        for _ in 0..<500 { values.append(Double.random(in: -1...1, using: &rng) * pow(10, Double.random(in: -8...8, using: &rng))) }
        for v in values {
            XCTAssertEqual(NumberText.fixed(v, digits: 1), String(format: "%.1f", v), "\(v)")
            XCTAssertEqual(NumberText.fixed(v, digits: 0), String(format: "%.0f", v), "\(v)")
            XCTAssertEqual(NumberText.general(v, significant: 4), String(format: "%.4g", v), "\(v)")
        }
    }

    func testKnownOutputs() {
        XCTAssertEqual(NumberText.fixed(12.345, digits: 1), "12.3")
        XCTAssertEqual(NumberText.fixed(-0.04, digits: 1), "-0.0")
        XCTAssertEqual(NumberText.fixed(2.5, digits: 0), "2")  // round half to even, as printf
        XCTAssertEqual(NumberText.general(123456, significant: 4), "1.235e+05")
        XCTAssertEqual(NumberText.general(0.0001234, significant: 4), "0.0001234")
        XCTAssertEqual(NumberText.fixed(1e300, digits: 40).count, 301 + 41)  // the largest output fits
    }
}
