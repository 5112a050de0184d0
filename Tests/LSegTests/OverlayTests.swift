import XCTest
@testable import LSeg

final class OverlayTests: XCTestCase {
    func testPaletteIsFullAndItsFirstColoursAreDistinct() {
        XCTAssertEqual(Palette.colours.count, 256)
        func distance(_ a: (UInt8, UInt8, UInt8), _ b: (UInt8, UInt8, UInt8)) -> Int {
            let d = [Int(a.0) - Int(b.0), Int(a.1) - Int(b.1), Int(a.2) - Int(b.2)]
            return d.map { $0 * $0 }.reduce(0, +)
        }
        var closest = Int.max
        for i in 0..<20 { for j in (i + 1)..<20 { closest = min(closest, distance(Palette.colours[i], Palette.colours[j])) } }
        XCTAssertGreaterThan(closest, 40 * 40, "two of the first 20 colours are too close")
        let unique = Set(Palette.colours.map { Int($0.0) << 16 | Int($0.1) << 8 | Int($0.2) })
        XCTAssertEqual(unique.count, 256)
        XCTAssertTrue(Palette.colour(256) == Palette.colour(0))
    }

    func testFontCoversPrintableASCIIWithDistinctGlyphs() {
        XCTAssertEqual(BitmapFont.glyphs.count, 95)
        var seen = Set<[UInt8]>()
        for g in BitmapFont.glyphs {
            XCTAssertEqual(g.count, 7)
            XCTAssertTrue(g.allSatisfy { $0 < 32 }, "\(g) uses more than 5 columns")
            seen.insert(g)
        }
        XCTAssertEqual(seen.count, 95, "two characters share a glyph")
        XCTAssertEqual(BitmapFont.glyph("é"), BitmapFont.glyph("?"))
        XCTAssertEqual(BitmapFont.width(of: "ab", scale: 2), 22)
    }

    func testDrawingSetsExactlyTheGlyphPixels() {
        var image = RGBImage(width: 12, height: 9)
        BitmapFont.draw("T", into: &image, x: 1, y: 1, colour: (255, 255, 255))
        var lit: [String] = []
        for y in 0..<9 { for x in 0..<12 where image[x, y].0 == 255 { lit.append("\(x),\(y)") } }
        // 'T': a 5-pixel bar on the top row, then the centre column for 6 rows.
        XCTAssertEqual(lit, ["1,1", "2,1", "3,1", "4,1", "5,1"] + (2...7).map { "3,\($0)" })
        // Off-image drawing is clipped, not a crash.
        BitmapFont.draw("W", into: &image, x: 10, y: 6, scale: 3, colour: (1, 2, 3))
    }

    func testOverlayBlendsAndAddsALegend() throws {
        let image = RGBImage(width: 4, height: 2, fill: (100, 50, 200))
        let map: [Int32] = [0, 0, 1, 1, 0, 1, 1, 2]
        let labels = ["sky", "tree", "road"]
        let plain = try overlay(image, labelMap: map, labels: labels, alpha: 0.25, legend: false)
        XCTAssertEqual(plain.width, 4)
        for (i, l) in map.enumerated() {
            let c = Palette.colour(Int(l))
            let expected = [(100, c.0), (50, c.1), (200, c.2)].map { UInt8((Float($0.0) * 0.75 + Float($0.1) * 0.25).rounded()) }
            XCTAssertEqual(Array(plain.pixels[(i * 3)..<(i * 3 + 3)]), expected, "pixel \(i)")
        }
        let shown = try overlay(image, labelMap: map, labels: labels, alpha: 0.25)
        let layout = LegendLayout(labels: labels, imageHeight: 2)
        XCTAssertEqual(shown.width, 4 + layout.width)
        XCTAssertEqual(shown.height, layout.height)
        // The photo part is unchanged by the legend; each swatch shows its label's colour.
        XCTAssertEqual(shown[2, 1].0, plain[2, 1].0)
        for i in 0..<3 {
            let (sx, sy) = layout.swatchOrigin(i)
            XCTAssertTrue(shown[4 + sx + 2, sy + 2] == Palette.colour(i), "swatch \(i)")
        }
        // Some text pixels are white.
        XCTAssertTrue(shown.pixels.indices.contains { $0 % 3 == 0 && shown.pixels[$0] == 255 && shown.pixels[$0 + 1] == 255 })
        XCTAssertThrowsError(try overlay(image, labelMap: [0], labels: labels))
        XCTAssertThrowsError(try overlay(image, labelMap: map.map { $0 + 1 }, labels: labels))
        XCTAssertThrowsError(try overlay(image, labelMap: map, labels: labels, alpha: 1.5))
    }
}
