import XCTest
import Foundation
import LSeg
import Runtime
import TestSupport
@testable import Quantize

/// A quantized pack keeps the text tower's sequence-truncation record, and its cut runs stay
/// bit-identical to full-length runs (int8 GEMMs sum in int32 exactly; the float parts use the
/// same length-invariant kernels as fp32).
final class QuantizedTruncationTests: XCTestCase {
    private func tokens() throws -> Tensor {
        let vocab = try Inflate.gunzip([UInt8](Data(contentsOf: QuantizeFixtures.url("vocab/bpe_simple_vocab_16e6.txt.gz"))))
        let ids = try Tokenizer(mergesFileData: vocab).tokenize(["cat", "a photo of a dog", "grass", "sky", "a red bus on a rainy street"])
        return .int64(ids.flatMap { $0 }, shape: [ids.count, ids[0].count])
    }

    private func check(_ mode: QuantizeMode) throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        var o = QuantizeOptions()
        o.mode = mode; o.threads = 2
        let photos = mode == .int8 ? try QuantizeFixtures.images("photos", limit: 4, fp32) : []
        let (q, _) = try Quantizer.quantize(fp32, images: photos, options: o)
        let record = try XCTUnwrap(q.metadata.sequenceTruncation?["text"], "\(mode): record dropped")
        let t = try tokens()
        let runner = ModelRunner(model: q, threads: 2)
        let cut = try runner.preparedRun(graph: "text", inputs: [record.input: t])
        XCTAssertLessThan(cut.session.plan.type(of: record.input)!.shape[1], 77, "\(mode): the run is cut")
        let truncated = try runner.run(graph: "text", inputs: [record.input: t])
        runner.truncatesSequences = false
        let full = try runner.run(graph: "text", inputs: [record.input: t])
        XCTAssertFalse(full.isEmpty)
        for (name, f) in full {
            XCTAssertTrue(try XCTUnwrap(truncated[name]).bitwiseEqual(f), "\(mode) '\(name)': truncated run differs from the full run")
        }
    }

    func testInt8PackTruncatesBitIdentically() throws { try check(.int8) }
    func testFloat16PackTruncatesBitIdentically() throws { try check(.fp16) }
    func testInt8WeightsPackTruncatesBitIdentically() throws { try check(.int8Weights) }
}
