@testable import Runtime
import TestSupport
import XCTest

final class BroadcastTests: XCTestCase {
    func testShapes() throws {
        XCTAssertEqual(try Broadcast.shape([2, 3], [3]), [2, 3])
        XCTAssertEqual(try Broadcast.shape([4, 1], [1, 5]), [4, 5])
        XCTAssertEqual(try Broadcast.shape([], [2, 1]), [2, 1])
        XCTAssertEqual(try Broadcast.shape([[1, 3, 1], [2, 1, 1], [4]]), [2, 3, 4])
        XCTAssertEqual(try Broadcast.shape([0, 3], [1, 3]), [0, 3])
        XCTAssertThrowsError(try Broadcast.shape([2, 3], [4]))
        XCTAssertThrowsError(try Broadcast.shape([2, 3], [3, 3]))
    }

    func testStrides() {
        XCTAssertEqual(Broadcast.contiguousStrides([2, 3, 4]), [12, 4, 1])
        XCTAssertEqual(Broadcast.strides([3, 1], to: [2, 3, 4]), [0, 1, 0])
        XCTAssertEqual(Broadcast.strides([4], to: [2, 3, 4]), [0, 0, 1])
        XCTAssertEqual(Broadcast.strides([], to: [2]), [0])
    }

    func testWalkMergesContiguousDims() {
        let out = [2, 3, 4]
        let w = StridedWalk(dims: out, strides: [Broadcast.contiguousStrides(out), Broadcast.contiguousStrides(out)])
        XCTAssertEqual(w.dims, [24])
        let b = StridedWalk(dims: out, strides: [Broadcast.contiguousStrides(out), Broadcast.strides([1, 3, 4], to: out)])
        XCTAssertEqual(b.dims, [2, 12])
        XCTAssertEqual(b.strides[1], [0, 1])
    }

    /// Runs over any sub-range visit exactly the offsets a naive index computation gives.
    func testWalkRangesMatchNaiveOffsets() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let (a, b) = randomBroadcastPair(&rng)
            guard let out = try? Broadcast.shape(a, b) else { continue }
            let w = StridedWalk(dims: out, strides: [Broadcast.contiguousStrides(out), Broadcast.strides(a, to: out),
                                                     Broadcast.strides(b, to: out)])
            let n = Tensor.elementCount(out)
            let lo = n == 0 ? 0 : Int.random(in: 0..<n, using: &rng), hi = n == 0 ? 0 : Int.random(in: lo...n, using: &rng)
            var got: [[Int]] = []
            w.forEachRun(lo..<hi) { off, len in
                for k in 0..<len { got.append([off[0] + k * w.innerStride(0), off[1] + k * w.innerStride(1), off[2] + k * w.innerStride(2)]) }
            }
            let idx = allIndices(out)
            let expected = (lo..<hi).map { i in [i, broadcastIndex(idx[i], a, out), broadcastIndex(idx[i], b, out)] }
            XCTAssertEqual(got, expected, "\(a) \(b) range \(lo)..<\(hi)")
        }
    }
}
