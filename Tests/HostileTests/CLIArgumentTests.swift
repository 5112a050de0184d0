import Foundation
import TestSupport
import XCTest

/// Bad option values found while running (not by the parser) are bad input: exit code 2 and one
/// line naming the option.
final class CLIArgumentTests: XCTestCase {
    func testRunRejectsBadValuesWithExitCodeTwo() throws {
        let pack = HostileCorpus.basePack.path
        let image = repositoryRoot.appendingPathComponent("golden/scenes/scene_000.png").path
        let cases: [(args: [String], mentions: String)] = [
            (["segment", pack, image, "--labels", "a,b", "--threads", "0"], "--threads"),
            (["segment", pack, image, "--labels", " , "], "--labels"),
            (["exec", pack, "--input", "no-equals-sign", "--output-dir", NSTemporaryDirectory()], "--input"),
        ]
        for c in cases {
            let r = try BuiltTools.run("lseg-run", c.args)
            XCTAssertEqual(r.status, 2, "\(c.args): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, "\(c.args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.mentions), "\(c.args): \(r.stderr)")
        }
    }
}
