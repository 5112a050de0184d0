import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// Segmenter drops each mapped weight's pages after its node: the masks and logits stay exactly
/// those of a run that keeps the weights resident, on the first run and on later ones (which
/// page the weights back in from the file).
final class WeightPageReleaseTests: XCTestCase {
    func testReleasingWeightPagesChangesNoResult() throws {
        let packs = try EdgeFixtures.packs()
        // Every blob raw, so the weights are mapped (the tiny model's floats would be decoded).
        let url = packs.folder.appendingPathComponent("trained-baked-raw.pack")
        try Pack.write(try Pack.read(packs.baked.path), to: url.path, options: PackWriteOptions(rawBelowBytes: .max))
        let releasing = try Segmenter(packAt: url.path, threads: 2)
        let keeping = try Segmenter(packAt: url.path, threads: 2)
        keeping.releasesWeightPages = false
        XCTAssertTrue(releasing.releasesWeightPages, "on by default")

        let graph = try XCTUnwrap(releasing.model.graph(named: "image"))
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let releasable = graph.initializers.values.filter { $0.byteCount >= 64 << 10 }.reduce(0) { $0 + $1.byteCount }
        XCTAssertGreaterThan(releasable, 0, "the fixture has weights large enough to release")
        for round in 0..<2 {
            for name in EdgeFixtures.scenes {
                let image = try EdgeFixtures.scene(name)
                let expected = try keeping.segment(image)
                let got = try releasing.segment(image)
                XCTAssertEqual(got.labelMap, expected.labelMap, "\(name), round \(round)")
                XCTAssertEqual(got.meanLogits, expected.meanLogits, "\(name), round \(round)")
                XCTAssertGreaterThan(releasing.releasedWeightBytes, 0, "\(name): mapped weights released")
                XCTAssertLessThanOrEqual(releasing.releasedWeightBytes, releasable + page, "released at most the weights")
                XCTAssertEqual(keeping.releasedWeightBytes, 0, "nothing released when keeping")
            }
        }
    }
}
