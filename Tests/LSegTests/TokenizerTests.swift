import Foundation
import TestSupport
import XCTest
@testable import LSeg

final class TokenizerTests: XCTestCase {
    nonisolated(unsafe) static var shared: Tokenizer?

    /// The CLIP merges file, from golden/ (committed by the golden data) — skipped when absent.
    func tokenizer() throws -> Tokenizer {
        if let t = Self.shared { return t }
        let path = repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no \(path)") }
        let t = try Tokenizer(mergesFile: path)
        Self.shared = t
        return t
    }

    struct Case: Decodable { let text: String; let ids: [Int64] }

    /// Reference ids: golden/tokenizer/cases.json when the golden data has it, and our own
    /// fixture made with open_clip (Fixtures/make_tokenizer_cases.py).
    func referenceCases() throws -> [Case] {
        var cases: [Case] = []
        for relative in ["golden/tokenizer/cases.json", "Tests/LSegTests/Fixtures/tokenizer_cases.json"] {
            let url = repositoryRoot.appendingPathComponent(relative)
            guard let data = FileManager.default.contents(atPath: url.path) else { continue }
            cases += try JSONDecoder().decode([Case].self, from: data)
        }
        return cases
    }

    func testVocabularyShape() throws {
        let t = try tokenizer()
        XCTAssertEqual(t.vocabularySize, 49408)
        XCTAssertEqual(t.encoder["<|startoftext|>"], 49406)
        XCTAssertEqual(t.encoder["<|endoftext|>"], 49407)
        XCTAssertEqual(t.encoder["!"], 0)
        XCTAssertEqual(t.encoder["a</w>"], 320)
    }

    func testMatchesOpenCLIPReference() throws {
        let t = try tokenizer()
        let cases = try referenceCases()
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        for c in cases {
            let ids = t.tokenize([c.text], contextLength: c.ids.count)[0]
            XCTAssertEqual(ids, c.ids, "text \(c.text.debugDescription) cleaned to \(TextCleaning.clean(c.text).debugDescription)")
        }
    }

    func testTruncationKeepsEndToken() throws {
        let t = try tokenizer()
        let ids = t.tokenize([String(repeating: "cat ", count: 200)])[0]
        XCTAssertEqual(ids.count, 77)
        XCTAssertEqual(ids[0], Tokenizer.startOfText)
        XCTAssertEqual(ids[76], Tokenizer.endOfText)
        XCTAssertFalse(ids.contains(0))
        let short = t.tokenize(["cat", ""], contextLength: 5)
        XCTAssertEqual(short, [[49406, 2368, 49407, 0, 0], [49406, 49407, 0, 0, 0]])
    }

    func testPlainTextAndGzipVocabularyAgree() throws {
        let reference = try tokenizer()  // skips when the vocabulary is absent
        let gz = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz")))
        let text = try Inflate.gunzip(gz)
        let plain = try Tokenizer(mergesFileData: text)
        XCTAssertEqual(plain.encode("a photo of a dog"), reference.encode("a photo of a dog"))
    }

    func testMalformedVocabularyIsRefused() {
        XCTAssertThrowsError(try Tokenizer(mergesText: "#version: 0.2\na b\n")) { error in
            XCTAssertTrue("\(error)".contains("lines"), "\(error)")
        }
        let badLine = "#version\n" + String(repeating: "a b\n", count: 10) + "abc\n" + String(repeating: "a b\n", count: Tokenizer.mergeCount)
        XCTAssertThrowsError(try Tokenizer(mergesText: badLine)) { error in
            XCTAssertTrue("\(error)".contains("line 12"), "\(error)")
        }
    }

    func testPretokenizerPattern() {
        XCTAssertEqual(Tokenizer.pretokenize("it's 42x!? <|endoftext|>"), ["it", "'s", "4", "2", "x", "!?", "<|endoftext|>"])
        XCTAssertEqual(Tokenizer.pretokenize("'''s"), ["'''", "s"])
        XCTAssertEqual(Tokenizer.pretokenize("日本 ½"), ["日本", "½"])
    }

    func testHTMLUnescape() {
        XCTAssertEqual(TextCleaning.unescapeHTML("a &amp; b &lt;&#65;&#x42;&#X43 &ampx &bogus; &#0;", requireSemicolon: false),
                       "a & b <ABC &x &bogus; \u{FFFD}")
        XCTAssertEqual(TextCleaning.unescapeHTML("&amp &amp;", requireSemicolon: true), "&amp &")
        XCTAssertEqual(TextCleaning.clean("  Tom &amp;amp;  JERRY\n"), "tom & jerry")
    }
}
