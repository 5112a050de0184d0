import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

final class LabelBakingTests: XCTestCase {
    /// A baked pack gives exactly the masks of the unbaked pack with the same labels.
    func testBakedPackGivesTheSameMasks() throws {
        let packs = try EdgeFixtures.packs()
        let plain = try Segmenter(packAt: packs.plain.path, threads: 2)
        let baked = try Segmenter(packAt: packs.baked.path, threads: 2)
        XCTAssertNil(plain.bakedLabels)
        XCTAssertEqual(baked.bakedLabels, EdgeFixtures.labels)
        for name in EdgeFixtures.scenes {
            let image = try EdgeFixtures.scene(name)
            let expected = try plain.segment(image, labels: EdgeFixtures.labels)
            let got = try baked.segment(image)
            XCTAssertEqual(got.labels, EdgeFixtures.labels)
            XCTAssertEqual(got.labelMap, expected.labelMap, "\(name): baked mask differs")
            XCTAssertEqual(got.meanLogits, expected.meanLogits, "\(name)")
            // Naming the baked labels explicitly is the same thing.
            XCTAssertEqual(try baked.segment(image, labels: EdgeFixtures.labels).labelMap, expected.labelMap)
            XCTAssertEqual(try baked.segment(image, labels: []).labels, EdgeFixtures.labels, "no labels: the baked ones")
            // More than one label present, so an all-zero map would not pass.
            XCTAssertGreaterThan(Set(got.labelMap).count, 1, "\(name)")
        }
    }

    func testBakedPackRefusesOtherLabelsNamingItsOwn() throws {
        let baked = try Segmenter(packAt: try EdgeFixtures.packs().baked.path, threads: 1)
        let image = try EdgeFixtures.scene("scene_000")
        XCTAssertThrowsError(try baked.segment(image, labels: ["road", "car"])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("baked labels (red triangle, green circle, blue triangle, background)"), message)
            XCTAssertTrue(message.contains("road, car"), message)
        }
        // Same labels in another order would silently permute the map: refused too.
        XCTAssertThrowsError(try baked.segment(image, labels: EdgeFixtures.labels.reversed()))
        // An unbaked pack needs labels.
        let plain = try Segmenter(packAt: try EdgeFixtures.packs().plain.path, threads: 1)
        XCTAssertThrowsError(try plain.segment(image)) { XCTAssertTrue("\($0)".contains("no labels given"), "\($0)") }
    }

    /// The baked pack has no text tower and no vocabulary, records its labels, and is smaller.
    func testBakedPackDropsTheTextTower() throws {
        let packs = try EdgeFixtures.packs()
        let info = try Pack.readDirectory(packs.baked.path)
        XCTAssertEqual(info.graphs.map(\.name), ["image"])
        XCTAssertEqual(info.metadata.bakedLabels, EdgeFixtures.labels)
        XCTAssertNil(info.metadata.vocabularyTensor)
        XCTAssertNil(info.metadata.roles["text"])
        XCTAssertTrue(info.metadata.links.isEmpty)
        let image = try XCTUnwrap(info.graphs.first)
        XCTAssertEqual(image.inputs.count, 1, "the text-features input became an initializer")
        let plainInfo = try Pack.readDirectory(packs.plain.path)
        XCTAssertNil(plainInfo.metadata.bakedLabels)
        let plainSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: packs.plain.path)[.size] as? Int)
        let bakedSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: packs.baked.path)[.size] as? Int)
        let text = try XCTUnwrap(packs.model.graph(named: "text"))
        let textWeightBytes = text.initializers.values.filter { $0.dtype.isFloat }.reduce(0) { $0 + $1.byteCount }
        XCTAssertGreaterThan(textWeightBytes, 1_000_000)
        // The text tower's float weights (compressed at best to about 0.8 of their size) leave with it.
        XCTAssertLessThan(bakedSize, plainSize - textWeightBytes / 2,
                          "baked \(bakedSize) B, unbaked \(plainSize) B, text tower \(textWeightBytes) B of float weights")
    }

    /// An unbaked pack's metadata is encoded exactly as before the field existed (no key), and a
    /// pack whose JSON lacks the key loads with bakedLabels nil.
    func testMetadataFieldIsAdditive() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plain = String(decoding: try encoder.encode(Metadata()), as: UTF8.self)
        XCTAssertFalse(plain.contains("bakedLabels"), plain)
        let old = try JSONDecoder().decode(Metadata.self, from: Data(plain.utf8))
        XCTAssertNil(old.bakedLabels)
        var m = Metadata()
        m.bakedLabels = ["a", "b"]
        let round = try JSONDecoder().decode(Metadata.self, from: try encoder.encode(m))
        XCTAssertEqual(round.bakedLabels, ["a", "b"])
    }

    func testBakingRefusesWhatItCannotBake() throws {
        let packs = try EdgeFixtures.packs()
        XCTAssertThrowsError(try LabelBaking.parse(" , ,")) { XCTAssertTrue("\($0)".contains("no labels"), "\($0)") }
        XCTAssertThrowsError(try LabelBaking.parse("car,road,car")) { XCTAssertTrue("\($0)".contains("'car' is given twice"), "\($0)") }
        XCTAssertEqual(try LabelBaking.parse(" road, car ,person,other"), ["road", "car", "person", "other"])
        let baked = try Pack.read(packs.baked.path)
        XCTAssertThrowsError(try LabelBaking.bake(baked, labels: ["x"])) { XCTAssertTrue("\($0)".contains("already has baked labels"), "\($0)") }
        // Features of the wrong shape are refused, not baked.
        let wrong = Tensor.float32([Float](repeating: 0, count: 3 * 7), shape: [3, 7])
        XCTAssertThrowsError(try LabelBaking.bake(packs.model, labels: ["a", "b"], features: wrong))
        // A combined graph has no text-features input to replace.
        let combined = Model(metadata: packs.model.metadata, graphs: [Graph(name: "main")])
        XCTAssertThrowsError(try LabelBaking.bake(combined, labels: ["a"])) { XCTAssertTrue("\($0)".contains("split into 'text' and 'image'"), "\($0)") }
    }
}
