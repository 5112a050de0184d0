@testable import Convert
import Foundation
import Runtime
import TestSupport
import XCTest

/// Detection and refusal of the causal-truncation pattern on small hand-made text towers, and
/// the proof on the golden exports.
final class CausalTruncationTests: XCTestCase {
    func testGoldenTextTowersAreProvenTruncatable() throws {
        for file in ["tiny/text.onnx", "trained/text.onnx"] {
            var g = try imported(file)
            let outcome = try CausalTruncation.optimize(&g)
            XCTAssertNil(outcome.refusal, file)
            XCTAssertEqual(outcome.truncation, SequenceTruncation(input: "tokens", axis: 1, fullLength: 77), file)
        }
    }

    /// A mask that is not causal (a future position visible) makes the pattern unprovable: the
    /// graph is optimized as usual and nothing is recorded.
    func testNonCausalMaskIsRefused() throws {
        var g = try imported("tiny/text.onnx")
        let mask = try XCTUnwrap(g.initializers.first { CausalTruncation.isCausalMask($0.value, 77) }?.key)
        var values = g.initializers[mask]!.scalars(as: Float.self)
        values[1] = 0   // row 0 may now see position 1
        g.initializers[mask] = .float32(values, shape: g.initializers[mask]!.shape)
        let outcome = try CausalTruncation.optimize(&g)
        XCTAssertNil(outcome.truncation)
        XCTAssertNotNil(outcome.refusal)
        XCTAssertEqual(g.inputs[0].shape, [.symbol("N"), .fixed(77)])
        XCTAssertFalse(g.nodes.contains { $0.name.hasPrefix("causal_truncation/") }, "an unprovable graph is left as the plain pipeline makes it")
    }

    /// The token ids read by anything else (here a graph output of them as floats) is not understood.
    func testOtherUseOfTokensIsRefused() throws {
        var g = try imported("tiny/text.onnx")
        g.nodes.append(Node(name: "leak", op: .neg, inputs: ["tokens"], outputs: ["negated_tokens"]))
        g.outputs.append(ValueInfo(name: "negated_tokens", dtype: .int64, shape: nil))
        guard case .refused(let why) = CausalTruncation.rewrite(g) else { return XCTFail("expected a refusal") }
        XCTAssertTrue(why.contains("Neg"), why)
    }

    /// An image tower has no integer token input: not applicable, no note.
    func testImageTowerIsNotApplicable() throws {
        let g = try imported("tiny/image.onnx")
        guard case .notApplicable = CausalTruncation.rewrite(g) else { return XCTFail("image tower must not match") }
    }

    /// Only 0 on and below the diagonal and -inf above count as a causal mask.
    func testMaskIsRecognizedOnlyWhenExactlyCausal() {
        var v = [Float](repeating: 0, count: 9)
        v[1] = -.infinity; v[2] = -.infinity; v[5] = -.infinity
        XCTAssertTrue(CausalTruncation.isCausalMask(.float32(v, shape: [1, 3, 3]), 3))
        v[5] = -1   // finite but not masking
        XCTAssertFalse(CausalTruncation.isCausalMask(.float32(v, shape: [1, 3, 3]), 3))
        v[5] = -.infinity; v[3] = -.infinity   // the diagonal side masked
        XCTAssertFalse(CausalTruncation.isCausalMask(.float32(v, shape: [3, 3]), 3))
    }
}
