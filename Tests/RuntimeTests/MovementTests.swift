import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class MovementTests: XCTestCase {
    let x = f32([1, 2, 3, 4, 5, 6], [2, 3])

    func testTransposeHandAndRandom() throws {
        let t = try eval1(.transpose(perm: nil), [x])
        XCTAssertEqual(t.shape, [3, 2])
        XCTAssertEqual(floats(t), [1, 4, 2, 5, 3, 6])
        var rng = SeededRandom(seed: 51)
        let cases: [([Int], [Int])] = [([2, 5, 3, 4], [0, 2, 1, 3]), ([2, 3, 5, 4], [0, 2, 3, 1]), ([3, 37, 45], [0, 2, 1]),
                                       ([1, 7, 1, 9], [3, 2, 1, 0]), ([65, 33], [1, 0]), ([2, 3, 4, 5, 6], [4, 0, 3, 1, 2]), ([5], [0])]
        for (shape, perm) in cases {
            let v = rng.floats(Tensor.elementCount(shape))
            let out = perm.map { shape[$0] }
            let got = try eval1(.transpose(perm: perm), [f32(v, shape)], threads: 3)
            XCTAssertEqual(got.shape, out)
            let expected = allIndices(out).map { o -> Float in
                var src = [Int](repeating: 0, count: shape.count)
                for d in 0..<perm.count { src[perm[d]] = o[d] }
                return v[broadcastIndex(src, shape, shape)]
            }
            XCTAssertEqual(floats(got), expected, "\(shape) \(perm)")
            let half = try eval1(.transpose(perm: perm), [f16(v, shape)])
            XCTAssertEqual(floats(half), Float16Conversion.toFloat(Float16Conversion.toHalf(expected)))
        }
        assertOpError(.transpose(perm: [0, 0]), [x], "not a permutation")
    }

    func testReshapeFamilyCopiesAndAliases() throws {
        let r = try eval1(.reshape(allowZero: false), [x, i64([0, -1, 1], [3])])
        XCTAssertEqual(r.shape, [2, 3, 1])
        XCTAssertEqual(floats(r), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try eval1(.reshape(allowZero: false), [x, i64([-1], [1])]).shape, [6])
        XCTAssertEqual(try eval1(.reshape(allowZero: true), [f32([], [0, 3]), i64([3, 0], [2])]).shape, [3, 0])
        assertOpError(.reshape(allowZero: false), [x, i64([4, -1], [2])], "cannot reshape")
        assertOpError(.reshape(allowZero: false), [x, i64([5], [1])], "cannot reshape")
        assertOpError(.reshape(allowZero: false), [x, i64([-1, -1], [2])], "more than one -1")
        XCTAssertEqual(try eval1(.flatten(axis: 1), [f32([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2])]).shape, [2, 4])
        XCTAssertEqual(try eval1(.flatten(axis: 0), [x]).shape, [1, 6])
        XCTAssertEqual(try eval1(.flatten(axis: -1), [x]).shape, [2, 3])
        XCTAssertEqual(try eval1(.unsqueeze, [x, i64([0, -1], [2])]).shape, [1, 2, 3, 1])
        XCTAssertEqual(try eval1(.squeeze, [f32([1, 2], [1, 2, 1]), nil]).shape, [2])
        XCTAssertEqual(try eval1(.squeeze, [f32([1, 2], [1, 2, 1]), i64([-1], [1])]).shape, [1, 2])
        assertOpError(.squeeze, [x, i64([0], [1])], "cannot squeeze")
        assertOpError(.unsqueeze, [x, i64([4], [1])], "out of range")
        // Output memory aliasing the input: run leaves the bytes alone.
        let v = TensorView(x)
        let aliased = TensorView(dtype: .float32, shape: [6], data: v.data)
        try Op.reshape(allowZero: false).run([v, TensorView(i64([6], [1]))], [aliased], ExecContext(threads: 1), node: "r")
        XCTAssertEqual(floats(x), [1, 2, 3, 4, 5, 6])
    }

    func testConcatSplit() throws {
        let c = try eval1(.concat(axis: 1), [x, f32([7, 8], [2, 1]), f32([], [2, 0])])
        XCTAssertEqual(c.shape, [2, 4])
        XCTAssertEqual(floats(c), [1, 2, 3, 7, 4, 5, 6, 8])
        XCTAssertEqual(try eval1(.concat(axis: 0), [i64([1], [1]), i64([2, 3], [2])]).scalars(as: Int64.self), [1, 2, 3])
        assertOpError(.concat(axis: 0), [x, f32([1, 2], [1, 2])], "differ")
        let parts = try Eval.evaluate(.split(axis: 1, numOutputs: nil), [x, i64([1, 2], [2])])
        XCTAssertEqual(parts.map(\.shape), [[2, 1], [2, 2]])
        XCTAssertEqual(floats(parts[0]), [1, 4])
        XCTAssertEqual(floats(parts[1]), [2, 3, 5, 6])
        let even = try Eval.evaluate(.split(axis: -1, numOutputs: 2), [f32([1, 2, 3, 4, 5], [5])])
        XCTAssertEqual(even.map(\.shape), [[3], [2]])
        XCTAssertEqual(floats(even[1]), [4, 5])
        assertOpError(.split(axis: 1, numOutputs: nil), [x, i64([1, 1], [2])], "do not add up")
    }

    func testSlice() throws {
        let s = try eval1(.slice, [x, i64([0, 1], [2]), i64([Int64.max, 3], [2])])
        XCTAssertEqual(s.shape, [2, 2])
        XCTAssertEqual(floats(s), [2, 3, 5, 6])
        let rev = try eval1(.slice, [x, i64([-1], [1]), i64([Int64.min], [1]), i64([1], [1]), i64([-1], [1])])
        XCTAssertEqual(floats(rev), [3, 2, 1, 6, 5, 4])
        let v = f32((0..<10).map(Float.init), [10])
        XCTAssertEqual(floats(try eval1(.slice, [v, i64([1], [1]), i64([8], [1]), nil, i64([3], [1])])), [1, 4, 7])
        XCTAssertEqual(floats(try eval1(.slice, [v, i64([8], [1]), i64([1], [1]), i64([0], [1]), i64([-3], [1])])), [8, 5, 2])
        XCTAssertEqual(try eval1(.slice, [v, i64([5], [1]), i64([2], [1])]).shape, [0])
        XCTAssertEqual(floats(try eval1(.slice, [v, i64([-3], [1]), i64([100], [1])])), [7, 8, 9])
        assertOpError(.slice, [v, i64([0], [1]), i64([1], [1]), nil, i64([0], [1])], "step is 0")
        assertOpError(.slice, [v, i64([0], [1]), i64([1], [1]), i64([1], [1])], "out of range")
    }

    func testGather() throws {
        let emb = f32([0, 1, 10, 11, 20, 21], [3, 2])
        let g = try eval1(.gather(axis: 0), [emb, i64([2, -3], [2])])
        XCTAssertEqual(g.shape, [2, 2])
        XCTAssertEqual(floats(g), [20, 21, 0, 1])
        let scalar = try eval1(.gather(axis: 1), [emb, i64([1], [])])
        XCTAssertEqual(scalar.shape, [3])
        XCTAssertEqual(floats(scalar), [1, 11, 21])
        XCTAssertEqual(try eval1(.gather(axis: 0), [i64([5, 6, 7], [3]), i32([-1], [])]).scalars(as: Int64.self), [7])
        assertOpError(.gather(axis: 0), [emb, i64([3], [1])], "index 3 is out of range")
        assertOpError(.gather(axis: 0), [emb, i64([-4], [1])], "index -4")
    }

    func testGatherND() throws {
        let d = f32([0, 1, 2, 3], [2, 2])
        XCTAssertEqual(floats(try eval1(.gatherND(batchDims: 0), [d, i64([0, 0, 1, 1], [2, 2])])), [0, 3])
        XCTAssertEqual(floats(try eval1(.gatherND(batchDims: 0), [d, i64([1, 0], [2, 1])])), [2, 3, 0, 1])
        // Text-tower pooling: batch_dims 1, one index per batch row.
        let h = f32((0..<12).map(Float.init), [2, 3, 2])
        let p = try eval1(.gatherND(batchDims: 1), [h, i64([2, 0], [2, 1])])
        XCTAssertEqual(p.shape, [2, 2])
        XCTAssertEqual(floats(p), [4, 5, 6, 7])
        assertOpError(.gatherND(batchDims: 0), [d, i64([2, 0], [1, 2])], "out of range")
    }

    func testExpandAndPad() throws {
        let e = try eval1(.expand, [f32([1, 2], [2, 1]), i64([2, 3], [2])])
        XCTAssertEqual(floats(e), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(try eval1(.expand, [f32([1, 2, 3], [3]), i64([2, 1], [2])]).shape, [2, 3])
        assertOpError(.expand, [f32([1, 2, 3], [3]), i64([2], [1])], "do not broadcast")
        let v = f32([1, 2, 3], [3]), pads = i64([2, 3], [2])
        XCTAssertEqual(floats(try eval1(.pad(mode: .constant), [v, pads])), [0, 0, 1, 2, 3, 0, 0, 0])
        XCTAssertEqual(floats(try eval1(.pad(mode: .reflect), [v, pads])), [3, 2, 1, 2, 3, 2, 1, 2])
        XCTAssertEqual(floats(try eval1(.pad(mode: .edge), [v, pads])), [1, 1, 1, 2, 3, 3, 3, 3])
        XCTAssertEqual(floats(try eval1(.pad(mode: .wrap), [v, pads])), [2, 3, 1, 2, 3, 1, 2, 3])
        let m = f32([1, 2, 3, 4], [2, 2])
        XCTAssertEqual(floats(try eval1(.pad(mode: .constant), [m, i64([1, 0, 0, 1], [4]), f32([9], [])])), [9, 9, 9, 1, 2, 9, 3, 4, 9])
        XCTAssertEqual(floats(try eval1(.pad(mode: .edge), [m, i64([1, 1], [2]), nil, i64([-1], [1])])), [1, 1, 2, 2, 3, 3, 4, 4])
        XCTAssertEqual(floats(try eval1(.pad(mode: .constant), [f32([1, 2, 3, 4], [4]), i64([-1, 1], [2])])), [2, 3, 4, 0])
        XCTAssertEqual(floats(try eval1(.pad(mode: .reflect), [m, i64([1, 0, 0, 0], [4])])), [3, 4, 1, 2, 3, 4])
        assertOpError(.pad(mode: .constant), [m, i64([1, 1], [2])], "pads has 2 entries")
    }
}
