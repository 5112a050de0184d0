import Runtime
import TestSupport
import XCTest
@testable import LSeg

final class PreprocessTests: XCTestCase {
    func source() throws -> RGBImage { try ImageIO.read(path: FixtureFiles.path("resize-source.png")) }

    func testResizeMatchesPillowBilinearExactly() throws {
        let src = try source()
        let manifest = try FixtureFiles.json("images.json") as! [String: Any]
        let entries = manifest["resize"] as! [[String: Any]]
        XCTAssertEqual(entries.count, 8)
        for entry in entries {
            let w = entry["width"] as! Int, h = entry["height"] as! Int
            let expected = try FixtureFiles.bytes(entry["file"] as! String)
            let got = src.resized(width: w, height: h)
            let worst = zip(got.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertEqual(worst, 0, "\(w)x\(h): largest difference from Pillow \(worst)")
        }
    }

    func testPreprocessMatchesNumpyPipeline() throws {
        let src = try source()
        let manifest = try FixtureFiles.json("images.json") as! [String: Any]
        for entry in manifest["preprocess"] as! [[String: Any]] {
            let h = entry["height"] as! Int, w = entry["width"] as! Int
            let mean = (entry["mean"] as! [Double]).map { Float($0) }, std = (entry["std"] as! [Double]).map { Float($0) }
            let expected = try NPY.read(path: FixtureFiles.path(entry["file"] as! String))
            XCTAssertEqual(expected.shape, [1, 3, h, w])
            let got = try preprocessTensor(src, height: h, width: w, mean: mean, std: std)
            XCTAssertEqual(got.shape, [1, 3, h, w])
            // Same float32 operations in the same order: bit-exact but for the division's last ulp.
            assertClose(got, expected, rtol: 1e-6, atol: 1e-6, "\(h)x\(w)")
        }
        XCTAssertThrowsError(try preprocess(src, height: 4, width: 4, mean: [0.5], std: [0.5, 0.5, 0.5]))
        XCTAssertThrowsError(try preprocess(src, height: 4, width: 4, mean: [0, 0, 0], std: [1, 0, 1]))
        XCTAssertThrowsError(try preprocess(src, height: 0, width: 4, mean: [0, 0, 0], std: [1, 1, 1]))
    }

    func testLogitsResizeMatchesONNXRuntime() throws {
        let logits = try NPY.read(path: FixtureFiles.path("logits.npy"))
        XCTAssertEqual(logits.shape, [3, 6, 9])
        let cases = try FixtureFiles.json("logits.json") as! [[String: Any]]
        for c in cases {
            let h = c["height"] as! Int, w = c["width"] as! Int
            let expected = try NPY.read(path: FixtureFiles.path(c["file"] as! String))
            let got = try resizeBilinear(logits.scalars(as: Float.self), count: 3, height: 6, width: 9, outHeight: h, outWidth: w)
            assertClose(got, expected.scalars(as: Float.self), rtol: 1e-5, atol: 1e-5, "\(h)x\(w)")
        }
    }

    func testArgmaxAndLabelMap() throws {
        // Two planes, 1x3: ties go to the first plane, NaN wins.
        XCTAssertEqual(try argmaxLabels([1, 5, .nan, 1, 2, 0], count: 2, height: 1, width: 3), [0, 0, 0])
        XCTAssertEqual(try argmaxLabels([1, 5, 0, 2, 5, .nan], count: 2, height: 1, width: 3), [1, 0, 1])
        // Left half class 0, right half class 1 at 2x2; upsampled to 4x8 the boundary stays in the middle.
        let logits: [Float] = [1, 0, 1, 0, 0, 1, 0, 1]
        let map = try labelMap(logits: logits, count: 2, height: 2, width: 2, outHeight: 4, outWidth: 8)
        XCTAssertEqual(map, [Int32]([0, 0, 0, 0, 1, 1, 1, 1] + [0, 0, 0, 0, 1, 1, 1, 1] + [0, 0, 0, 0, 1, 1, 1, 1] + [0, 0, 0, 0, 1, 1, 1, 1]))
        XCTAssertThrowsError(try labelMap(logits: logits, count: 3, height: 2, width: 2, outHeight: 4, outWidth: 8))
    }
}
