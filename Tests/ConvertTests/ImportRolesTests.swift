import Foundation
import Runtime
import TestSupport
import XCTest
@testable import Convert

final class ImportRolesTests: XCTestCase {
    func load(_ name: String) throws -> Graph {
        try ONNXImporter.load(ImportTests.fixtures.appendingPathComponent(name)).graph
    }

    func testSingleTowersKeepTheirRole() throws {
        XCTAssertEqual(Roles.role(of: try load("text.onnx")), Roles.text)
        XCTAssertEqual(Roles.role(of: try load("image.onnx")), Roles.image)
        XCTAssertEqual(Roles.role(of: try load("unordered.onnx")), Roles.main)
        XCTAssertEqual(Roles.split(try load("external.onnx")).graphs.map(\.name), ["main"])
        let s = Roles.split(try load("text.onnx"))
        XCTAssertEqual(s.graphs.map(\.name), ["text"])
        XCTAssertTrue(s.links.isEmpty)
    }

    func checkCombinedSplit(_ file: String) throws {
        let g = try load(file)
        XCTAssertNil(Roles.role(of: g))
        let s = Roles.split(g)
        XCTAssertEqual(s.graphs.map(\.name), ["text", "image"], file)
        guard s.graphs.count == 2 else { return }
        let (t, i) = (s.graphs[0], s.graphs[1])
        XCTAssertEqual(t.inputs.map(\.name), ["tokens"])
        XCTAssertEqual(t.outputs, [ValueInfo(name: "text_features", dtype: .float32, shape: [.symbol("N"), .fixed(8)])], file)
        XCTAssertEqual(t.nodes.map(\.name), ["embed", "pool", "text_proj"])
        XCTAssertEqual(Set(t.initializers.keys), ["emb", "proj"])
        XCTAssertEqual(i.inputs.map(\.name), ["image", "text_features"])
        XCTAssertEqual(i.nodes.map(\.name), ["img_conv", "img_t", "text_t", "logits"])
        XCTAssertEqual(Set(i.initializers.keys), ["cw"])
        XCTAssertEqual(i.outputs.map(\.name), ["logits"])
        XCTAssertEqual(s.links, [GraphLink(fromGraph: "text", fromOutput: "text_features", toGraph: "image", toInput: "text_features")])
        XCTAssertEqual(s.roles, ["text": "text", "image": "image"])
        // The image part is itself detected as an image tower.
        XCTAssertEqual(Roles.role(of: i), Roles.image)
    }

    func testCombinedSplitWithValueInfo() throws { try checkCombinedSplit("combined.onnx") }

    /// Without value_info the boundary's [N, C] type is worked out from the text part's ops.
    func testCombinedSplitByStructure() throws { try checkCombinedSplit("combined_noinfo.onnx") }

    func testNoClearBoundaryStaysMain() throws {
        var g = try load("combined.onnx")
        // The image part now also reads the pooled embeddings: two boundary tensors.
        g.nodes.append(Node(name: "extra", op: .identity, inputs: ["pooled"], outputs: ["pooled_copy"]))
        g.outputs.append(ValueInfo(name: "pooled_copy", dtype: .float32, shape: nil))
        g.nodes[g.nodes.count - 1].op = .add
        g.nodes[g.nodes.count - 1].inputs = ["pooled", "logits"]
        let s = Roles.split(g)
        XCTAssertEqual(s.graphs.map(\.name), ["main"])
        XCTAssertTrue(s.links.isEmpty)
    }

    /// The golden models, when present on this branch, import and split.
    func testGoldenModelsImportAndSplit() throws {
        let dir = repositoryRoot.appendingPathComponent("golden/models")
        guard let names = FileManager.default.enumerator(atPath: dir.path)?.compactMap({ $0 as? String })
            .filter({ $0.hasSuffix(".onnx") }), !names.isEmpty else {
            throw XCTSkip("no golden models in golden/models")
        }
        for n in names.sorted() {
            let m = try ONNXImporter.load(dir.appendingPathComponent(n))
            XCTAssertFalse(m.graph.nodes.isEmpty, n)
            let s = Roles.split(m.graph)
            XCTAssertFalse(s.graphs.isEmpty, n)
        }
    }
}
