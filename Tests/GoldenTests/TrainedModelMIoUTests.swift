import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// The trained tiny LSeg model on the 64 held-out scenes: our mIoU must equal ONNX Runtime's
/// (in golden/manifest.json) within 0.002, computed the same way (per label string, intersections
/// and unions summed over scenes; argmax over each scene's own label list).
final class TrainedModelMIoUTests: XCTestCase {
    func testMIoUEqualsOnnxRuntime() throws {
        let trained = try XCTUnwrap(GoldenFixtures.manifest["trained"] as? [String: Any])
        let reference = try XCTUnwrap(trained["miou"] as? Double)
        let labelsJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: GoldenFixtures.url("scenes/labels.json"))) as! [String: Any]
        let scenes = labelsJSON["scenes"] as! [String: [String]]
        XCTAssertEqual(scenes.count, 64)

        let model = try Conversion.convert(GoldenFixtures.url("models/trained/lseg.onnx"), options: GoldenFixtures.options()).model
        let segmenter = try Segmenter(model: model, threads: 2)
        var intersection: [String: Int] = [:], union: [String: Int] = [:]
        for (name, labels) in scenes.sorted(by: { $0.key < $1.key }) {
            let image = try ImageIO.read(path: GoldenFixtures.url("scenes/\(name).png").path)
            let truth = try ImageIO.read(path: GoldenFixtures.url("scenes/\(name)_mask.png").path)
            let result = try segmenter.segment(image, labels: labels)
            for (k, label) in labels.enumerated() {
                var i = 0, u = 0
                for p in 0..<(image.width * image.height) {
                    let predicted = Int(result.labelMap[p]) == k, actual = Int(truth.pixels[p * 3]) == k
                    if predicted && actual { i += 1 }
                    if predicted || actual { u += 1 }
                }
                intersection[label, default: 0] += i
                union[label, default: 0] += u
            }
        }
        let ious = union.filter { $0.value > 0 }.map { Double(intersection[$0.key] ?? 0) / Double($0.value) }
        let miou = ious.reduce(0, +) / Double(ious.count)
        print(String(format: "trained tiny LSeg, 64 held-out scenes: mIoU %.4f (ONNX Runtime %.4f)", miou, reference))
        XCTAssertEqual(miou, reference, accuracy: 0.002)
        XCTAssertGreaterThanOrEqual(miou, 0.6)
    }
}
