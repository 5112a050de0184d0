import Foundation
import XCTest
@testable import LSeg

final class ImageIOTests: XCTestCase {
    func testDecodesEveryColourTypeToTheDocumentedRGB() throws {
        let manifest = try FixtureFiles.json("images.json") as! [String: Any]
        let entries = manifest["decode"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(entries.count, 17)
        for entry in entries {
            let name = entry["file"] as! String
            let image = try ImageIO.read(path: FixtureFiles.path(name))
            XCTAssertEqual(image.width, entry["width"] as? Int, name)
            XCTAssertEqual(image.height, entry["height"] as? Int, name)
            let expected = try FixtureFiles.bytes(name + ".rgb")
            let differing = zip(image.pixels, expected).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) bytes differ from the reference")
        }
    }

    func testCMYKJPEGIsRefusedClearly() throws {
        XCTAssertThrowsError(try ImageIO.read(path: FixtureFiles.path("cmyk.jpg"))) { error in
            XCTAssertTrue("\(error)".contains("cmyk.jpg") && "\(error)".contains("CMYK"), "\(error)")
        }
    }

    func testPNGRoundTripIsExactAndDeterministic() throws {
        var rng = SplitMix(seed: 11)
        let pixels = (0..<(19 * 13 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let image = RGBImage(width: 19, height: 13, pixels: pixels)
        let a = try ImageIO.encodePNG(image)
        let b = try ImageIO.encodePNG(image)
        XCTAssertEqual(a, b)
        XCTAssertEqual(try ImageIO.decode(a, name: "roundtrip"), image)
    }

    func testLabelPNGKeepsIndicesAndShowsPaletteColours() throws {
        let labels: [UInt8] = (0..<(6 * 4)).map { UInt8($0 % 5) }
        let palette = Array(Palette.colours.prefix(5))
        let png = try ImageIO.encodeLabelPNG(labels: labels, width: 6, height: 4, palette: palette)
        XCTAssertEqual(png[25], 3, "colour type should be indexed")
        // Decoding expands the palette: each pixel shows its label's colour.
        let shown = try ImageIO.decode(png, name: "labels")
        for (i, l) in labels.enumerated() {
            let c = palette[Int(l)]
            XCTAssertEqual([shown.pixels[i * 3], shown.pixels[i * 3 + 1], shown.pixels[i * 3 + 2]], [c.0, c.1, c.2])
        }
        // The raw indices are the label values: read the IDAT back with our inflater (zlib wrapper = 2 bytes).
        let idat = try chunk("IDAT", in: png)
        let raw = try Inflate.inflate(Array(idat[2...]))
        XCTAssertEqual(raw.count, 4 * (6 + 1))
        for y in 0..<4 {
            XCTAssertEqual(raw[y * 7], 0, "filter type")
            XCTAssertEqual(Array(raw[(y * 7 + 1)..<(y * 7 + 7)]), Array(labels[(y * 6)..<(y * 6 + 6)]))
        }
        XCTAssertThrowsError(try ImageIO.encodeLabelPNG(labels: [7], width: 1, height: 1, palette: palette))
        XCTAssertThrowsError(try ImageIO.encodeLabelPNG(labels: [0, 0], width: 1, height: 1, palette: palette))
    }

    private func chunk(_ type: String, in png: [UInt8]) throws -> [UInt8] {
        var p = 8
        while p + 8 <= png.count {
            let length = Int(png[p]) << 24 | Int(png[p + 1]) << 16 | Int(png[p + 2]) << 8 | Int(png[p + 3])
            if String(decoding: png[(p + 4)..<(p + 8)], as: UTF8.self) == type { return Array(png[(p + 8)..<(p + 8 + length)]) }
            p += 12 + length
        }
        throw LSegTestError.missingFixture(type)
    }

    func testHugeHeaderIsRefusedBeforeAllocating() throws {
        // A PNG whose IHDR claims 100000 x 100000 pixels, with a valid CRC so libpng reads it.
        var ihdr: [UInt8] = Array("IHDR".utf8)
        ihdr += [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0]
        let crc = CRC32.checksum(ihdr)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr
        png += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        // libpng reads the header chunks up to the first IDAT before we see the size.
        let idat: [UInt8] = Array("IDAT".utf8) + [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        let idatCRC = CRC32.checksum(idat)
        png += [0, 0, 0, 8] + idat + [UInt8(idatCRC >> 24), UInt8(idatCRC >> 16 & 0xFF), UInt8(idatCRC >> 8 & 0xFF), UInt8(idatCRC & 0xFF)]
        XCTAssertThrowsError(try ImageIO.decode(png, name: "huge.png")) { error in
            guard case LSegError.imageTooLarge(let file, let what) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "huge.png")
            XCTAssertTrue(what.contains("100000x100000"), what)
        }
        // A configurable limit applies to real files too.
        XCTAssertThrowsError(try ImageIO.read(path: FixtureFiles.path("rgb.jpg"), maxPixels: 32 * 24 - 1)) { error in
            guard case LSegError.imageTooLarge = error else { return XCTFail("\(error)") }
        }
        XCTAssertNoThrow(try ImageIO.read(path: FixtureFiles.path("rgb.jpg"), maxPixels: 32 * 24))
    }

    func testTruncatedAndCorruptFilesAreErrorsNamingTheFile() throws {
        for name in ["rgb8.png", "rgb8-interlaced.png", "palette4.png", "rgb.jpg", "rgb-420-progressive.jpg", "grey.jpg"] {
            let good = try FixtureFiles.bytes(name)
            for cut in stride(from: 0, to: good.count - 1, by: max(1, good.count / 40)) {
                XCTAssertThrowsError(try ImageIO.decode(Array(good[0..<cut]), name: name), "\(name) cut at \(cut)") { error in
                    XCTAssertTrue("\(error)".hasPrefix(name), "\(error)")
                }
            }
        }
        // Garbage after a valid signature, and garbage with no signature.
        var rng = SplitMix(seed: 3)
        let noise = (0..<500).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        XCTAssertThrowsError(try ImageIO.decode([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + noise, name: "g.png"))
        XCTAssertThrowsError(try ImageIO.decode([0xFF, 0xD8, 0xFF] + noise, name: "g.jpg"))
        XCTAssertThrowsError(try ImageIO.decode(noise, name: "g.bin")) { error in
            XCTAssertTrue("\(error)".contains("not a PNG or JPEG"), "\(error)")
        }
        XCTAssertThrowsError(try ImageIO.read(path: "/nonexistent/x.png"))
        // Random byte damage must never crash (it may decode to something or throw).
        for name in ["rgb8.png", "rgb.jpg"] {
            let good = try FixtureFiles.bytes(name)
            for _ in 0..<150 {
                var bad = good
                for _ in 0..<3 { bad[8 + Int(rng.next() % UInt64(bad.count - 8))] = UInt8(truncatingIfNeeded: rng.next()) }
                _ = try? ImageIO.decode(bad, name: name)
            }
        }
    }
}
