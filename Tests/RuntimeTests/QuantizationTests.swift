@testable import Runtime
import TestSupport
import XCTest

final class QuantizationTests: XCTestCase {
    func testQuantizeRoundsHalfToEvenAndSaturates() throws {
        let x = f32([0.5, 1.5, 2.5, -0.5, -1.5, 1000, -1000, 0.26], [8])
        let q = try eval1(.quantizeLinear(axis: 1), [x, f32([1], []), Tensor(dtype: .int8, shape: [], scalars: [Int8(0)])])
        XCTAssertEqual(q.dtype, .int8)
        XCTAssertEqual(q.scalars(as: Int8.self), [0, 2, 2, -0, -2, 127, -128, 0])
        let u = try eval1(.quantizeLinear(axis: 1), [x, f32([0.5], [])])
        XCTAssertEqual(u.dtype, .uint8)
        XCTAssertEqual(u.scalars(as: UInt8.self), [1, 3, 5, 0, 0, 255, 0, 1])
        let z = try eval1(.quantizeLinear(axis: 1), [f32([-1, 0, 1], [3]), f32([0.1], []), Tensor(dtype: .uint8, shape: [], scalars: [UInt8(128)])])
        XCTAssertEqual(z.scalars(as: UInt8.self), [118, 128, 138])
    }

    func testPerAxis() throws {
        let x = f32([1, 2, 3, 4, 5, 6], [2, 3])
        let q = try eval1(.quantizeLinear(axis: 0), [x, f32([1, 0.5], [2]), Tensor(dtype: .int8, shape: [2], scalars: [Int8(0), Int8(-1)])])
        XCTAssertEqual(q.scalars(as: Int8.self), [1, 2, 3, 7, 9, 11])
        let d = try eval1(.dequantizeLinear(axis: 0), [q, f32([1, 0.5], [2]), Tensor(dtype: .int8, shape: [2], scalars: [Int8(0), Int8(-1)])])
        XCTAssertEqual(floats(d), [1, 2, 3, 4, 5, 6])
        let cols = try eval1(.dequantizeLinear(axis: -1), [Tensor(dtype: .uint8, shape: [2, 2], scalars: [UInt8(10), 20, 30, 40]),
                                                          f32([0.5, 2], [2]), Tensor(dtype: .uint8, shape: [2], scalars: [UInt8(10), 0])])
        XCTAssertEqual(floats(cols), [0, 40, 10, 80])
        let bias = try eval1(.dequantizeLinear(axis: 0), [Tensor(dtype: .int32, shape: [2], scalars: [Int32(-300), 5]), f32([0.01], [])])
        assertClose(floats(bias), [-3, 0.05])
        assertOpError(.quantizeLinear(axis: 1), [x, f32([1, 2], [2])], "scale has 2 entries")
        assertOpError(.dequantizeLinear(axis: 0), [x, f32([1], [])], "not int8")
    }
}
