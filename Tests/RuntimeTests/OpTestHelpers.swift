import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// Small builders shared by the op-family tests.
func f32(_ v: [Float], _ shape: [Int]) -> Tensor { Tensor.float32(v, shape: shape) }
func i64(_ v: [Int64], _ shape: [Int]) -> Tensor { Tensor.int64(v, shape: shape) }
func i32(_ v: [Int32], _ shape: [Int]) -> Tensor { Tensor(dtype: .int32, shape: shape, scalars: v) }
func bools(_ v: [Bool], _ shape: [Int]) -> Tensor { Tensor(dtype: .bool, shape: shape, scalars: v.map { UInt8($0 ? 1 : 0) }) }
func f16(_ v: [Float], _ shape: [Int]) -> Tensor { Tensor(dtype: .float16, shape: shape, scalars: Float16Conversion.toHalf(v)) }
func floats(_ t: Tensor) -> [Float] {
    t.dtype == .float16 ? Float16Conversion.toFloat(t.scalars(as: UInt16.self)) : t.scalars(as: Float.self)
}
func boolValues(_ t: Tensor) -> [Bool] { t.scalars(as: UInt8.self).map { $0 != 0 } }

/// Evaluates one op and returns its first output.
func eval1(_ op: Op, _ inputs: [Tensor?], threads: Int = 1) throws -> Tensor { try Eval.evaluate(op, inputs, threads: threads)[0] }

/// Asserts that evaluating `op` fails with a badNode error whose message contains `fragment`.
func assertOpError(_ op: Op, _ inputs: [Tensor?], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try Eval.evaluate(op, inputs)
        XCTFail("expected an error containing '\(fragment)'", file: file, line: line)
    } catch let RuntimeError.badNode(_, opName, what) {
        XCTAssertEqual(opName, op.typeName, file: file, line: line)
        XCTAssertTrue(what.contains(fragment), "message '\(what)' lacks '\(fragment)'", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// Flat index into a dense tensor of `shape` for result index `idx` of broadcast shape `out`.
func broadcastIndex(_ idx: [Int], _ shape: [Int], _ out: [Int]) -> Int {
    let off = out.count - shape.count
    var flat = 0
    for d in 0..<shape.count { flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[off + d]) }
    return flat
}

/// Every multi-index of `shape` in row-major order.
func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = []
    let n = Tensor.elementCount(shape)
    for i in 0..<n {
        var rem = i
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = rem % shape[d]; rem /= shape[d] }
        result.append(idx)
    }
    return result
}

/// A random shape pair that broadcasts, with 1-sized dims and rank differences in either direction.
func randomBroadcastPair(_ rng: inout SeededRandom) -> ([Int], [Int]) {
    let rank = Int.random(in: 0...4, using: &rng)
    let out = (0..<rank).map { _ in [1, 2, 3, 5, 7, 17, 33][Int.random(in: 0..<7, using: &rng)] }
    func operand(_ rng: inout SeededRandom) -> [Int] {
        let drop = Int.random(in: 0...rank, using: &rng)
        return out.dropFirst(drop).map { Bool.random(using: &rng) && Int.random(in: 0..<3, using: &rng) == 0 ? 1 : $0 }
    }
    return (operand(&rng), operand(&rng))
}
