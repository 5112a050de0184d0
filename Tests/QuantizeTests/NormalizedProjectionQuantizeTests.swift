import XCTest
import Foundation
import LSeg
import Runtime
import TestSupport
@testable import Quantize

/// The fused LSeg head (`.normalizedProjection`) in quantized packs: int8 leaves it float with
/// its attributes untouched (head1 before it is quantized), and label baking after quantizing
/// gives it the baked features as a constant, with the same masks as the unbaked int8 model.
final class NormalizedProjectionQuantizeTests: XCTestCase {
    private func head(_ g: Graph) throws -> Node {
        let heads = g.nodes.filter { if case .normalizedProjection = $0.op { return true }; return false }
        XCTAssertEqual(heads.count, 1, "graph '\(g.name)'")
        return try XCTUnwrap(heads.first)
    }

    func testInt8KeepsTheFusedHeadFloatAndBakingFeedsIt() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        let floatHead = try head(try XCTUnwrap(fp32.graph(named: "image")))
        var o = QuantizeOptions()
        o.mode = .int8; o.threads = 2
        let photos = try QuantizeFixtures.images("photos", limit: 2, fp32)
        let (int8, report) = try Quantizer.quantize(fp32, images: photos, options: o)
        let image = try XCTUnwrap(int8.graph(named: "image"))
        let q = try head(image)
        XCTAssertEqual(q.op, floatHead.op)
        XCTAssertEqual(q.inputs, floatHead.inputs)
        XCTAssertFalse(report.layers.contains { $0.node == q.name }, "the head is not an int8 layer")
        // head1 feeds it, quantized; its float output goes straight in (no QuantizeLinear between).
        let producer = try XCTUnwrap(image.nodes.first { $0.outputs.contains(q.inputs[0]) })
        XCTAssertEqual(producer.op.typeName, "QConv")

        let labels = ["cat", "rocket", "grass"]
        let baked = try LabelBaking.bake(int8, labels: labels, threads: 2)
        let bakedHead = try head(baked.graphs[0])
        XCTAssertEqual(baked.graphs[0].initializers[bakedHead.inputs[1]]?.shape, [3, 512])
        let photo = try ImageIO.read(path: QuantizeFixtures.url("photos/astronaut.png").path)
        let fromBaked = try Segmenter(model: baked, threads: 2).segment(photo)
        let fromLabels = try Segmenter(model: int8, threads: 2).segment(photo, labels: labels)
        XCTAssertEqual(fromBaked.labelMap, fromLabels.labelMap)
    }
}
