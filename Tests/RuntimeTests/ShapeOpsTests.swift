@testable import Runtime
import TestSupport
import XCTest

final class ShapeOpsTests: XCTestCase {
    func testRange() throws {
        XCTAssertEqual(try eval1(.range, [i64([0], []), i64([5], []), i64([2], [])]).scalars(as: Int64.self), [0, 2, 4])
        XCTAssertEqual(try eval1(.range, [i64([5], []), i64([0], []), i64([-2], [])]).scalars(as: Int64.self), [5, 3, 1])
        XCTAssertEqual(try eval1(.range, [i64([5], []), i64([0], []), i64([1], [])]).shape, [0])
        XCTAssertEqual(try eval1(.range, [i32([1], []), i32([4], []), i32([1], [])]).scalars(as: Int32.self), [1, 2, 3])
        XCTAssertEqual(floats(try eval1(.range, [f32([0.5], []), f32([2], []), f32([0.5], [])])), [0.5, 1, 1.5])
        assertOpError(.range, [i64([0], []), i64([5], []), i64([0], [])], "delta is 0")
        assertOpError(.range, [i64([0], []), i32([5], []), i64([1], [])], "share a type")
    }

    func testConstantOfShape() throws {
        let c = try eval1(.constantOfShape(dtype: .int64, value: 1), [i64([2, 3], [2])])
        XCTAssertEqual(c.shape, [2, 3])
        XCTAssertEqual(c.scalars(as: Int64.self), [1, 1, 1, 1, 1, 1])
        XCTAssertEqual(floats(try eval1(.constantOfShape(dtype: .float32, value: -0.5), [i64([2], [1])])), [-0.5, -0.5])
        XCTAssertEqual(floats(try eval1(.constantOfShape(dtype: .float16, value: 3), [i64([1], [1])])), [3])
        XCTAssertEqual(try eval1(.constantOfShape(dtype: .float32, value: 0), [i64([0], [1])]).shape, [0])
        assertOpError(.constantOfShape(dtype: .float32, value: 0), [i64([-2], [1])], "invalid")
    }

    func testShape() throws {
        let x = f32([Float](repeating: 0, count: 24), [2, 3, 4])
        XCTAssertEqual(try eval1(.shape(start: 0, end: nil), [x]).scalars(as: Int64.self), [2, 3, 4])
        XCTAssertEqual(try eval1(.shape(start: -2, end: nil), [x]).scalars(as: Int64.self), [3, 4])
        XCTAssertEqual(try eval1(.shape(start: 1, end: -1), [x]).scalars(as: Int64.self), [3])
        XCTAssertEqual(try eval1(.shape(start: -10, end: 10), [x]).scalars(as: Int64.self), [2, 3, 4])
        XCTAssertEqual(try eval1(.shape(start: 2, end: 1), [x]).shape, [0])
        XCTAssertEqual(try eval1(.shape(start: 0, end: nil), [f32([1], [])]).shape, [0])
    }
}
