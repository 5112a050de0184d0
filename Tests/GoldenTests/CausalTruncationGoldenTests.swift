import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// The converter makes the CLIP text towers of the golden exports truncatable, and a run cut to
/// the longest end token gives outputs bit-identical to the full-length run.
final class CausalTruncationGoldenTests: XCTestCase {
    /// Tokenized realistic labels: end tokens at several positions, the longest well below 77.
    private func labelTokens(_ labels: [String]) throws -> Tensor {
        let tokenizer = try Tokenizer(mergesFileData: GoldenFixtures.vocabulary, name: "golden vocabulary")
        let ids = tokenizer.tokenize(labels)
        return .int64(ids.flatMap { $0 }, shape: [labels.count, ids[0].count])
    }

    private let labels = ["cat", "a photo of a dog", "grass", "other", "a red double-decker bus on a rainy street",
                          "sky", "person", "tree"]

    /// Runs the text graph truncated and at full length; asserts equal bytes and a real cut.
    private func checkBitIdentical(_ key: String, graph: String = "text", file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try GoldenFixtures.model(key)
        guard let record = model.metadata.sequenceTruncation?[graph] else {
            return XCTFail("\(key): graph '\(graph)' was not made truncatable", file: file, line: line)
        }
        XCTAssertEqual(record.fullLength, 77, file: file, line: line)
        XCTAssertEqual(record.axis, 1, file: file, line: line)
        let g = try XCTUnwrap(model.graph(named: graph))
        XCTAssertEqual(g.inputs.first { $0.name == record.input }?.shape, [.symbol("N"), .fixed(77)], "the declared input stays [N, 77]", file: file, line: line)

        let tokens = try labelTokens(labels)
        let length = try XCTUnwrap(ModelRunner.endTokenLength(tokens, axis: 1))
        XCTAssertLessThan(length, 20, file: file, line: line)

        let runner = ModelRunner(model: model, threads: 2)
        let cut = try runner.preparedRun(graph: graph, inputs: [record.input: tokens])
        XCTAssertEqual(cut.session.plan.type(of: record.input)?.shape, [labels.count, length], "the run is planned for the cut length", file: file, line: line)
        let truncated = try runner.run(graph: graph, inputs: [record.input: tokens])
        runner.truncatesSequences = false
        let full = try runner.run(graph: graph, inputs: [record.input: tokens])
        XCTAssertEqual(Set(truncated.keys), Set(full.keys), file: file, line: line)
        for (name, f) in full {
            let t = try XCTUnwrap(truncated[name])
            XCTAssertEqual(t.shape, f.shape, file: file, line: line)
            XCTAssertTrue(t.bitwiseEqual(f), "\(key) '\(name)': truncated run differs from the full run (max |diff| \(maxDiff(t, f)))", file: file, line: line)
        }
    }

    private func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars(as: Float.self), b.scalars(as: Float.self)).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testTinyTextTowerIsTruncatedBitIdentically() throws { try checkBitIdentical("tiny/text") }
    func testTrainedTextTowerIsTruncatedBitIdentically() throws { try checkBitIdentical("trained/text") }
    func testTinyCombinedExportTextGraphIsTruncatedBitIdentically() throws { try checkBitIdentical("tiny/lseg") }
    func testModernDynamoExportTextGraphIsTruncatedBitIdentically() throws { try checkBitIdentical("modern/dynamo_lseg") }

    /// The image graph has no token input: nothing recorded for it.
    func testImageGraphIsNotRecorded() throws {
        let model = try GoldenFixtures.model("tiny/lseg")
        XCTAssertNil(model.metadata.sequenceTruncation?["image"])
    }
}
