import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class ReductionTests: XCTestCase {
    let x = f32([1, 2, 3, 4, 5, 6], [2, 3])

    func testHandComputed() throws {
        let mean = try eval1(.reduce(.mean, ReduceAttrs(axes: [1], keepDims: true)), [x])
        XCTAssertEqual(mean.shape, [2, 1])
        XCTAssertEqual(floats(mean), [2, 5])
        let sum0 = try eval1(.reduce(.sum, ReduceAttrs(axes: [-2], keepDims: false)), [x])
        XCTAssertEqual(sum0.shape, [3])
        XCTAssertEqual(floats(sum0), [5, 7, 9])
        XCTAssertEqual(floats(try eval1(.reduce(.max, ReduceAttrs(axes: [1], keepDims: false)), [x])), [3, 6])
        XCTAssertEqual(floats(try eval1(.reduce(.min, ReduceAttrs(axes: [0], keepDims: false)), [x])), [1, 2, 3])
        XCTAssertEqual(floats(try eval1(.reduce(.prod, ReduceAttrs(axes: [1], keepDims: false)), [x])), [6, 120])
        XCTAssertEqual(floats(try eval1(.reduce(.l1, ReduceAttrs(axes: [1], keepDims: false)), [f32([-1, 2, -3], [1, 3])])), [6])
        XCTAssertEqual(floats(try eval1(.reduce(.sumSquare, ReduceAttrs(axes: [1], keepDims: false)), [x])), [14, 77])
        assertClose(floats(try eval1(.reduce(.l2, ReduceAttrs(axes: [1], keepDims: false)), [x])), [sqrtf(14), sqrtf(77)])
        assertClose(floats(try eval1(.reduce(.logSumExp, ReduceAttrs(axes: [1], keepDims: false)), [x])),
                    [logf(expf(1) + expf(2) + expf(3)), logf(expf(4) + expf(5) + expf(6))])
        // Large values must not overflow in log-sum-exp.
        assertClose(floats(try eval1(.reduce(.logSumExp, ReduceAttrs(axes: [0], keepDims: false)), [f32([1000, 1000], [2])])),
                    [1000 + logf(2)])
    }

    func testAxesFromInputAllAxesAndNoop() throws {
        let r = try eval1(.reduce(.sum, ReduceAttrs(keepDims: false)), [x, i64([1], [1])])
        XCTAssertEqual(floats(r), [6, 15])
        let all = try eval1(.reduce(.sum, ReduceAttrs(keepDims: true)), [x])
        XCTAssertEqual(all.shape, [1, 1])
        XCTAssertEqual(floats(all), [21])
        let allEmpty = try eval1(.reduce(.mean, ReduceAttrs(keepDims: false)), [x, i64([], [0])])
        XCTAssertEqual(allEmpty.shape, [])
        XCTAssertEqual(floats(allEmpty), [3.5])
        let noop = try eval1(.reduce(.sum, ReduceAttrs(keepDims: false, noopWithEmptyAxes: true)), [x])
        XCTAssertEqual(noop.shape, [2, 3])
        XCTAssertEqual(floats(noop), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try eval1(.reduce(.sum, ReduceAttrs(axes: [0], keepDims: false)), [i64([1, 2, 3, 4], [2, 2])]).scalars(as: Int64.self), [4, 6])
        XCTAssertEqual(floats(try eval1(.reduce(.mean, ReduceAttrs(axes: [1], keepDims: false)), [f16([1, 2, 4, 8], [2, 2])])), [1.5, 6])
    }

    func testArgMax() throws {
        let ids = i64([49406, 320, 1125, 49407, 0, 0, 49406, 49407, 0, 0, 0, 0], [2, 6])
        let r = try eval1(.argMax(axis: -1, keepDims: false, selectLastIndex: false), [ids])
        XCTAssertEqual(r.dtype, .int64)
        XCTAssertEqual(r.scalars(as: Int64.self), [3, 1])
        let t = f32([1, 3, 3, 0, 2, 2], [2, 3])
        XCTAssertEqual(try eval1(.argMax(axis: 1, keepDims: true, selectLastIndex: false), [t]).scalars(as: Int64.self), [1, 1])
        XCTAssertEqual(try eval1(.argMax(axis: 1, keepDims: true, selectLastIndex: true), [t]).scalars(as: Int64.self), [2, 2])
        let c = try eval1(.argMax(axis: 0, keepDims: true, selectLastIndex: false), [t])
        XCTAssertEqual(c.shape, [1, 3])
        XCTAssertEqual(c.scalars(as: Int64.self), [0, 0, 0])
    }

    func testErrors() {
        assertOpError(.reduce(.sum, ReduceAttrs(axes: [2])), [x], "out of range")
        assertOpError(.reduce(.sum, ReduceAttrs(axes: [1, -1])), [x], "repeat")
        assertOpError(.argMax(axis: 3, keepDims: true, selectLastIndex: false), [x], "out of range")
    }

    /// Random shapes and axis sets against a naive reduction.
    func testRandomAgainstNaive() throws {
        var rng = SeededRandom(seed: 21)
        for trial in 0..<80 {
            let rank = Int.random(in: 1...4, using: &rng)
            let shape = (0..<rank).map { _ in [1, 2, 3, 7, 16][Int.random(in: 0..<5, using: &rng)] }
            let axes = (0..<rank).filter { _ in Bool.random(using: &rng) }
            guard !axes.isEmpty else { continue }
            let keep = Bool.random(using: &rng)
            let kinds: [ReduceKind] = [.mean, .sum, .max, .min, .l2, .logSumExp]
            let kind = kinds[trial % kinds.count]
            let v = rng.floats(Tensor.elementCount(shape), -2, 2)
            let got = try eval1(.reduce(kind, ReduceAttrs(axes: axes.map { Bool.random(using: &rng) ? $0 - rank : $0 }, keepDims: keep)),
                                [f32(v, shape)], threads: 2)
            let outShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            var groups = [[Float]](repeating: [], count: Tensor.elementCount(outShape))
            for (i, idx) in allIndices(shape).enumerated() {
                let o = idx.enumerated().map { axes.contains($0.offset) ? 0 : $0.element }
                groups[broadcastIndex(o, outShape, outShape)].append(v[i])
            }
            let expected: [Float] = groups.map { g in
                switch kind {
                case .mean: return g.reduce(0, +) / Float(g.count)
                case .sum: return g.reduce(0, +)
                case .max: return g.max()!
                case .min: return g.min()!
                case .l2: return sqrtf(g.map { $0 * $0 }.reduce(0, +))
                default: let m = g.max()!; return logf(g.map { expf($0 - m) }.reduce(0, +)) + m
                }
            }
            XCTAssertEqual(got.shape, keep ? outShape : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
            assertClose(floats(got), expected, rtol: 1e-5, atol: 1e-5, "\(kind) \(shape) \(axes)")
        }
    }
}
