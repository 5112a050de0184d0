import XCTest
import Foundation
import Runtime
import TestSupport
@testable import Quantize

/// The fused ViT attention (`.attention`) in quantized packs: int8 quantizes the qkv projection
/// feeding it and leaves the op itself float with its attributes untouched.
final class AttentionQuantizeTests: XCTestCase {
    private func attentions(_ g: Graph) -> [Node] {
        g.nodes.filter { if case .attention = $0.op { return true }; return false }
    }

    func testInt8KeepsAttentionFloatAfterAQuantizedProjection() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        let floatOps = attentions(try XCTUnwrap(fp32.graph(named: "image")))
        XCTAssertEqual(floatOps.count, 4)
        var o = QuantizeOptions()
        o.mode = .int8; o.threads = 2
        let photos = try QuantizeFixtures.images("photos", limit: 2, fp32)
        let (int8, report) = try Quantizer.quantize(fp32, images: photos, options: o)
        let image = try XCTUnwrap(int8.graph(named: "image"))
        let ops = attentions(image)
        XCTAssertEqual(ops.map(\.op), floatOps.map(\.op))
        XCTAssertEqual(ops.map(\.inputs), floatOps.map(\.inputs))
        for op in ops {
            XCTAssertFalse(report.layers.contains { $0.node == op.name }, "attention is not an int8 layer")
            let producer = try XCTUnwrap(image.nodes.first { $0.outputs.contains(op.inputs[0]) })
            XCTAssertEqual(producer.op.typeName, "QLinear", "the qkv projection is quantized, its float output feeds the op")
        }
    }
}
