import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// Every reference case of every committed fixture model, against ONNX Runtime's outputs.
final class GoldenOutputTests: XCTestCase {
    func testEveryCaseMatchesOnnxRuntime() throws {
        let cases = GoldenFixtures.cases
        XCTAssertGreaterThanOrEqual(cases.count, 9, "the manifest lists the reference cases")
        for c in cases {
            for o in try GoldenFixtures.outputs(of: c) {
                XCTAssertLessThan(o.maxAbsError, 1e-4 * o.maxAbsReference, "\(o.label): max abs error \(o.maxAbsError), max |ref| \(o.maxAbsReference)")
                if o.expected.rank == 4 {
                    let agree = maskAgreement(o.actual, o.expected)
                    XCTAssertGreaterThanOrEqual(agree, 0.999, "\(o.label): mask agreement \(agree)")
                }
            }
        }
    }

    /// ONNX Runtime's value of every intermediate tensor, for the nodes our graph still has
    /// (fusions remove some): the first divergence would be named here.
    func testIntermediatesMatchOnnxRuntime() throws {
        let entries = GoldenFixtures.manifest["intermediates"] as? [[String: Any]] ?? []
        XCTAssertFalse(entries.isEmpty)
        for entry in entries {
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: GoldenFixtures.url(entry["index"] as! String))) as! [String: Any]
            var refs: [String: (file: String, stride: Int)] = [:]
            for t in index["tensors"] as! [[String: Any]] {
                refs[t["tensor"] as! String] = (t["file"] as! String, (t["stride"] as? Int) ?? 1)
            }
            let caseDir = (entry["case"] as! String)
            let c = GoldenFixtures.cases.first { ($0["dir"] as? String) == caseDir }!
            let model = try GoldenFixtures.model(c["model"] as! String)
            var inputs: [String: Tensor] = [:]
            for (k, spec) in c["inputs"] as! [String: Any] { inputs[k] = try GoldenFixtures.tensor(spec) }
            let runner = ModelRunner(model: model, threads: 1)
            var compared = 0
            var failures: [String] = []
            runner.observer = { node, outs in
                for (name, view) in zip(node.outputs, outs) where view.dtype == .float32 {
                    guard let ref = refs[name], let expected = try? NPY.read(path: GoldenFixtures.url(ref.file).path) else { continue }
                    let e = expected.scalars(as: Float.self)
                    let p = view.pointer(Float.self)
                    guard e.count == (view.count + ref.stride - 1) / ref.stride else { failures.append("\(name): \(e.count) reference values for \(view.count)"); continue }
                    let maxRef = e.filter(\.isFinite).map(abs).max() ?? 0
                    var maxErr: Float = 0
                    for (i, x) in e.enumerated() where x.isFinite { maxErr = max(maxErr, abs(p[i * ref.stride] - x)) }
                    compared += 1
                    if maxErr > 1e-4 * max(maxRef, 1e-6) && failures.isEmpty {
                        failures.append("first divergence at node '\(node.name)' (\(node.op.typeName)) output '\(name)': max abs error \(maxErr), max |ref| \(maxRef)")
                    }
                }
            }
            _ = try runner.runAll(inputs: inputs)
            XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
            XCTAssertGreaterThan(compared, 50, "intermediates compared")
        }
    }
}
