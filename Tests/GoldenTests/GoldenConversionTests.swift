import Convert
import Foundation
import Runtime
import TestSupport
import XCTest

final class GoldenConversionTests: XCTestCase {
    /// Every committed ONNX fixture converts, the pack round-trips bit-exactly, and converting
    /// again gives a byte-identical pack.
    func testEveryFixtureConvertsDeterministically() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-golden-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let keys = GoldenFixtures.models.compactMap { $0["key"] as? String }
        XCTAssertGreaterThanOrEqual(keys.count, 5)
        for key in keys {
            let a = folder.appendingPathComponent("a.pack"), b = folder.appendingPathComponent("b.pack")
            let first = try Conversion.convert(GoldenFixtures.url("models/\(key).onnx"), options: GoldenFixtures.options())
            try Pack.write(first.model, to: a.path)
            let second = try Conversion.convert(GoldenFixtures.url("models/\(key).onnx"), options: GoldenFixtures.options())
            try Pack.write(second.model, to: b.path)
            XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "\(key): two conversions differ")
            let back = try Pack.read(a.path)
            XCTAssertEqual(back.graphs.map(\.name), first.model.graphs.map(\.name), key)
            XCTAssertEqual(back.metadata, first.model.metadata, key)
            for (g, h) in zip(first.model.graphs, back.graphs) {
                XCTAssertEqual(g.nodes, h.nodes, "\(key) \(g.name)")
                XCTAssertEqual(Set(g.initializers.keys), Set(h.initializers.keys), "\(key) \(g.name)")
                for (name, t) in g.initializers { XCTAssertTrue(t.bitwiseEqual(h.initializers[name]!), "\(key) \(name)") }
            }
            XCTAssertLessThan(first.nodesAfter, first.nodesBefore, "\(key): the passes simplify the export")
        }
    }

    func testCombinedExportSplitsIntoTextAndImage() throws {
        let m = try GoldenFixtures.model("tiny/lseg")
        XCTAssertEqual(m.graphs.map(\.name).sorted(), ["image", "text"])
        XCTAssertEqual(m.metadata.links, [GraphLink(fromGraph: "text", fromOutput: "text_features", toGraph: "image", toInput: "text_features")])
        XCTAssertEqual(m.metadata.preprocessing, Preprocessing(height: 128, width: 128))
        XCTAssertNotNil(m.vocabularyBytes)
        let text = m.graph(named: "text")!
        XCTAssertEqual(text.inputs.map(\.name), ["tokens"])
        XCTAssertEqual(text.outputs.first?.shape, [.symbol("N"), .fixed(512)])
    }
}
