import Foundation
import TestSupport
import XCTest
@testable import LSeg

/// The device build's replacements for Foundation's Unicode helpers (NFC, the width forms' NFKC,
/// blank trimming) checked against Python's unicodedata and against Foundation itself (ICU).
final class TextCleaningTests: XCTestCase {
    struct NFCCase: Decodable { let text: String; let nfc: String }
    struct NFCCases: Decodable { let cases: [NFCCase] }

    func testCanonicalCompositionMatchesPython() throws {
        let cases = try JSONDecoder().decode(NFCCases.self, from: Data(FixtureFiles.bytes("nfc_cases.json"))).cases
        XCTAssertGreaterThan(cases.count, 300)
        XCTAssertTrue(cases.contains { $0.text == "\u{AC00}\u{11A8}" && $0.nfc == "\u{AC01}" })
        for c in cases {
            XCTAssertEqual(Array(TextCleaning.canonicalComposition(c.text).unicodeScalars), Array(c.nfc.unicodeScalars),
                           "NFC of \(c.text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Every scalar of the scripts CLIP labels plausibly use, alone and followed by combining
    /// marks, composes as Foundation composes it. Hangul is left to the Python cases: Foundation
    /// on Linux composes old jamo L + V into the non-character U+D7A4 and leaves LV + T apart.
    func testCanonicalCompositionMatchesFoundation() {
        let ranges: [ClosedRange<UInt32>] = [0x20...0x24F, 0x370...0x52F, 0x900...0x97F, 0x1E00...0x1FFF,
                                             0x2100...0x214F, 0x3040...0x30FF, 0x0590...0x05FF, 0x0E00...0x0E7F]
        let marks = ["", "\u{301}", "\u{308}\u{301}", "\u{323}\u{302}", "\u{327}", "\u{31B}\u{300}", "\u{5AE}\u{300}", "\u{3099}"]
        var checked = 0
        for r in ranges {
            for v in r {
                guard let s = Unicode.Scalar(v), s.properties.generalCategory != .unassigned else { continue }
                for m in marks {
                    let text = String(Character(s)) + m
                    let ours = Array(TextCleaning.canonicalComposition(text).unicodeScalars)
                    let icu = Array(text.precomposedStringWithCanonicalMapping.unicodeScalars)
                    if ours != icu { XCTFail("NFC of U+\(String(v, radix: 16)) + \(m.unicodeScalars.map { $0.value })"); return }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 15_000)
    }

    func testWidthFormsMatchFoundationNFKC() {
        for v: UInt32 in 0xFF01...0xFFEF {
            guard let s = Unicode.Scalar(v) else { continue }
            let icu = String(Character(s)).precomposedStringWithCompatibilityMapping
            XCTAssertEqual(WidthForms.nfkc[v] ?? String(Character(s)), icu, "U+\(String(v, radix: 16))")
        }
        XCTAssertEqual(TextCleaning.clean("ＣＡＴ　ｏｎ　ａ　ｍａｔ"), "cat on a mat")
        XCTAssertEqual(TextCleaning.clean("ｶﾞ"), "\u{30AC}")  // half-width ka + voiced mark compose
    }

    func testTrimmingBlanksMatchesFoundation() {
        let blanks = " \t\u{A0}\u{2003}\u{3000}\u{202F}"
        let samples = ["", " ", "cat", "  cat  ", "\tsky\u{3000}", "\u{A0}a b\u{2003}", "\ncar\n", " \u{85}x\u{2028} ",
                       blanks + "tree" + blanks, "big  dog"]
        for s in samples {
            XCTAssertEqual(TextCleaning.trimmingBlanks(s), s.trimmingCharacters(in: .whitespaces), s.debugDescription)
            XCTAssertEqual(TextCleaning.trimmingBlanks(Substring(s)), s.trimmingCharacters(in: .whitespaces))
        }
    }
}
