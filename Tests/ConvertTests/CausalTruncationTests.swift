@testable import Convert
import Foundation
import Runtime
import TestSupport
import XCTest

/// Detection and refusal of the causal-truncation pattern on small hand-made text towers, and
/// the proof on the golden exports.
final class CausalTruncationTests: XCTestCase {
    private func imported(_ relative: String) throws -> Graph {
        try ONNXImporter.load(repositoryRoot.appendingPathComponent("golden/models/\(relative)"), hashSources: false).graph
    }

    func testGoldenTextTowersAreProvenTruncatable() throws {
        for file in ["tiny/text.onnx", "trained/text.onnx"] {
            var g = try imported(file)
            let outcome = try CausalTruncation.optimize(&g)
            XCTAssertNil(outcome.refusal, file)
            XCTAssertEqual(outcome.truncation, SequenceTruncation(input: "tokens", axis: 1, fullLength: 77), file)
        }
    }
}
