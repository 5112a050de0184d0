import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// Exports from current PyTorch (dynamo exporter, opsets 18-20, external data) and LSeg's own
/// code paths (arch_option 1 and 2 heads, the float16 feature product, TorchScript without
/// constant folding), against ONNX Runtime: golden/manifest-modern.json, made by
/// golden/make/modern/run.sh.
final class ModernExportTests: XCTestCase {
    func testEveryModernCaseMatchesOnnxRuntime() throws {
        let manifest = try GoldenFixtures.manifest(named: "manifest-modern.json")
        let cases = manifest["cases"] as? [[String: Any]] ?? []
        let models = manifest["models"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(cases.count, 5, "the manifest lists the reference cases")
        // Every model has at least one case, so a fixture cannot be added without being checked.
        XCTAssertEqual(Set(models.compactMap { $0["key"] as? String }), Set(cases.compactMap { $0["model"] as? String }))
        for c in cases {
            for o in try GoldenFixtures.outputs(of: c) {
                if c["reference"] == nil {
                    XCTAssertLessThan(o.maxAbsError, 1e-4 * o.maxAbsReference, "\(o.label): max abs error \(o.maxAbsError), max |ref| \(o.maxAbsReference)")
                } else {
                    // A float16 graph (the case names its node-by-node reference): a float32 value
                    // within ~1e-7 of a float16 rounding boundary rounds either way depending on
                    // summation order, so a few logits differ by one float16 ulp (2^-10 relative),
                    // spread by the 3x3 head and the upsampling. Everywhere else the float32
                    // criterion holds: most elements, and so the median, meet it.
                    XCTAssertLessThanOrEqual(o.maxAbsError, 0x1p-10 * o.maxAbsReference, "\(o.label): max abs error \(o.maxAbsError) over one float16 ulp of max |ref| \(o.maxAbsReference)")
                    let errors = zip(o.actual.scalars(as: Float.self), o.expected.scalars(as: Float.self)).map { abs($0 - $1) }
                    let within = errors.filter { $0 < 1e-4 * o.maxAbsReference }.count
                    XCTAssertGreaterThanOrEqual(Double(within) / Double(errors.count), 0.95, "\(o.label): only \(within) of \(errors.count) within 1e-4 of max |ref|")
                }
                if o.expected.rank == 4 {
                    let agree = maskAgreement(o.actual, o.expected)
                    XCTAssertGreaterThanOrEqual(agree, 0.999, "\(o.label): mask agreement \(agree)")
                }
            }
        }
    }

    /// The dynamo export of the combined model splits into text and image like the TorchScript
    /// one, although it pools with GatherND and names its values differently.
    func testDynamoCombinedExportSplitsIntoTextAndImage() throws {
        let m = try GoldenFixtures.model("modern/dynamo_lseg")
        XCTAssertEqual(m.graphs.map(\.name).sorted(), ["image", "text"])
        XCTAssertEqual(m.metadata.links.count, 1)
        XCTAssertEqual(m.metadata.links.first?.fromGraph, "text")
        XCTAssertEqual(m.metadata.links.first?.toGraph, "image")
        XCTAssertEqual(m.graph(named: "text")?.inputs.map(\.name), ["tokens"])
        XCTAssertNotNil(m.vocabularyBytes)
    }

    /// Every op type in the modern fixtures is one the converter lists as supported at the
    /// fixture's opset (what `lseg-inspect --ops` prints).
    func testModernOpTypesAreListedAsSupported() throws {
        let manifest = try GoldenFixtures.manifest(named: "manifest-modern.json")
        let supported = Dictionary(uniqueKeysWithValues: ONNXImporter.supportedOps.map { ($0.opType, $0.since) })
        var opsets: Set<Int> = []
        for model in manifest["models"] as? [[String: Any]] ?? [] {
            let opset = model["opset"] as! Int
            opsets.insert(opset)
            XCTAssertTrue(ONNXImporter.supportedOpsets.contains(opset))
            for op in model["op_types"] as! [String] where op != "Constant" {
                guard let since = supported[op] else { XCTFail("\(model["key"]!): \(op) is not listed as supported"); continue }
                XCTAssertLessThanOrEqual(since, opset, "\(op) at opset \(opset)")
            }
        }
        XCTAssertTrue(opsets.isSuperset(of: [13, 18, 19, 20]), "fixtures cover opsets \(opsets.sorted())")
    }
}
