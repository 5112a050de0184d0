import Foundation
import XCTest
import Runtime
import TestSupport

/// JSONCoding (the pack's own JSON coder, no Foundation) against Foundation's JSONEncoder and
/// JSONDecoder configured as packs were first written: same bytes out, same values and the same
/// accept/reject decisions in.
final class JSONCodingTests: XCTestCase {
    /// The graph section's shape (Runtime's PackGraphSection is internal; the keys are the same).
    struct Section: Codable, Equatable {
        var metadata: Metadata
        var graphs: [Record]
        struct Record: Codable, Equatable {
            var name: String
            var inputs: [ValueInfo]
            var outputs: [ValueInfo]
            var nodes: [Node]
            var valueInfo: [String: ValueInfo]
            var initializers: [String: String]
        }
    }

    static func foundationEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func foundationDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    static func section(_ model: Model) -> Section {
        Section(metadata: model.metadata, graphs: model.graphs.map { g in
            Section.Record(name: g.name, inputs: g.inputs, outputs: g.outputs, nodes: g.nodes, valueInfo: g.valueInfo,
                           initializers: Dictionary(uniqueKeysWithValues: g.initializers.keys.map { ($0, "\(g.name)/\($0)") }))
        })
    }

    /// Encodes with both coders, requires identical bytes, then decodes those bytes with both
    /// and requires both to give back what the other gives (compared by re-encoding, as NaN != NaN).
    func assertSameCoding<T: Codable>(_ value: T, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = [UInt8](try Self.foundationEncoder().encode(value))
        let got = try JSONCoding.encode(value)
        if got != expected {
            let at = (0..<min(got.count, expected.count)).first { got[$0] != expected[$0] } ?? min(got.count, expected.count)
            XCTFail("\(what): bytes differ at \(at): ours …\(String(decoding: got[max(0, at - 40)..<min(got.count, at + 40)], as: UTF8.self))… "
                    + "Foundation …\(String(decoding: expected[max(0, at - 40)..<min(expected.count, at + 40)], as: UTF8.self))…",
                    file: file, line: line)
            return
        }
        let ours = try JSONCoding.decode(T.self, from: expected)
        let theirs = try Self.foundationDecoder().decode(T.self, from: Data(expected))
        XCTAssertEqual(try JSONCoding.encode(ours), expected, "\(what): decoded value re-encodes differently", file: file, line: line)
        XCTAssertEqual(try JSONCoding.encode(theirs), expected, what, file: file, line: line)
    }

    func testPackFixtureGraphSectionMatchesFoundation() throws {
        try assertSameCoding(Self.section(PackFixtures.model()), "PackFixtures.model")
    }

    func testEveryAttributeShapeMatchesFoundation() throws {
        // Enums with and without payloads (named and unnamed), optionals present and absent,
        // nested attribute structs, non-finite floats, extreme numbers.
        let ops: [Op] = [
            .add, .mod(fmod: true), .leakyRelu(alpha: 0.01), .gelu(tanh: false), .cast(to: .float16),
            .gemm(GemmAttrs(alpha: 1e-7, beta: 3.4e38, transA: true)), .batchNorm(epsilon: 1e-45),
            .conv(ConvAttrs(kernelShape: [3, 3], strides: [2, 2], pads: [0, 1, 0, 1], dilations: [1, 1], group: 4)),
            .resize(ResizeAttrs(mode: .nearest, coordinateTransformation: .tfCropAndResize)),
            .reduce(.logSumExp, ReduceAttrs(axes: [-1, 0], keepDims: false)),
            .argMax(axis: -1, keepDims: true, selectLastIndex: false), .transpose(perm: nil), .transpose(perm: [0, 2, 1]),
            .split(axis: 1, numOutputs: nil), .split(axis: 1, numOutputs: 3), .shape(start: -3, end: nil),
            .constantOfShape(dtype: .float64, value: 0.1 + 0.2), .constantOfShape(dtype: .float32, value: -0.0),
            .constantOfShape(dtype: .float32, value: .infinity), .constantOfShape(dtype: .float64, value: 5e-324),
            .constantOfShape(dtype: .float64, value: 1.7976931348623157e308), .constantOfShape(dtype: .int64, value: 123456789012345678),
            .normalizedProjection(NormalizedProjectionAttrs(upsample: .init(coordinateTransformation: .alignCorners, scales: [2, 2]),
                                                            scale: 14.285714, normGuard: .clampNorm(epsilon: 1e-12))),
            .normalizedProjection(NormalizedProjectionAttrs()),
        ]
        var g = Graph(name: "ops/all \"quoted\"")
        g.nodes = ops.enumerated().map { Node(name: "n\($0.offset)", op: $0.element, inputs: ["x"], outputs: ["y\($0.offset)"]) }
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(0), .fixed(Int.max), .symbol("N"), .symbol("")])]
        try assertSameCoding(Self.section(Model(graphs: [g])), "all ops")
    }

    func testStringsAndKeysMatchFoundation() throws {
        let strings = ["a/b", "q\"\\", "\u{0}\u{1}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "é漢字😀", "\u{2028}\u{2029}", "", "e\u{301}", "\u{FEFF}x"]
        try assertSameCoding(strings, "strings")
        // Key order: by UTF-8 bytes (digits, upper case, "_", lower case, then non-ASCII).
        var keys: [String: Int] = [:]
        for (i, k) in ["a10", "a2", "B", "a", "_0", "A", "a.9", "a 2", "onnx::MatMul_12", "onnx::MatMul_9", "xY", "x_y", "é", "Ä",
                       "ｆ", "A\u{30A}x", "e\u{301}b", "ea", "😀", "\u{FFFD}"].enumerated() {
            keys[k] = i
        }
        try assertSameCoding(keys, "keys")
    }

    func testNumbersMatchFoundation() throws {
        let floats: [Float] = [1, 0.1, 1e-5, 1e10, 1e16, 3.4028235e38, -.infinity, .nan, -0.0, 1.17549435e-38, 1e-45, 0.007, 16777216, 1.5]
        try assertSameCoding(floats, "floats")
        let doubles: [Double] = [1, 0.1, 1e-5, 1e16, 1e17, 1e300, 5e-324, -0.0, 0.1 + 0.2, 123456789012345678, .infinity, .nan]
        try assertSameCoding(doubles, "doubles")
        try assertSameCoding([Int64.min, Int64.max, 0, -1], "int64")
        try assertSameCoding([UInt64.max, 0], "uint64")
        try assertSameCoding([Int8.min, Int8.max], "int8")
        var random = SeededRandom(seed: 7)
        let randomFloats = (0..<2000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
        try assertSameCoding(randomFloats, "random float bit patterns")
        let randomDoubles = (0..<2000).map { _ in Double(bitPattern: random.next()) }
        try assertSameCoding(randomDoubles, "random double bit patterns")
    }

    struct Probe: Codable { var i: Int?; var f: Float?; var s: String?; var d: [String: Int]?; var a: [Int]? }

    /// The decoder accepts and rejects what Foundation's does, and gives the same values.
    func testDecodingDecisionsMatchFoundation() throws {
        let documents = [
            #"{"i":3.0}"#, #"{"i":1e2}"#, #"{"i":-0}"#, #"{"i":3.5}"#, #"{"i":1,"i":2}"#, #" {"i" : 4 } "#, #"{"i":4} x"#,
            #"{"i":01}"#, #"{"i":"4"}"#, #"{"i":99999999999999999999}"#, #"{"i":1E2}"#, "\u{FEFF}{\"i\":5}", #"{"i":-}"#,
            #"{"i":1.}"#, #"{"i":.5}"#, #"{"i":+1}"#, #"{"i":null}"#, #"{"i":true}"#, #"{"f":1e39}"#, #"{"f":"inf"}"#,
            #"{"f":"-inf"}"#, #"{"f":"Infinity"}"#, #"{"f":1e-50}"#, #"{"f":0e-50}"#, #"{"f":3}"#, #"{"f":16777217}"#, #"{"f":-0.0}"#,
            #"{"s":"\ud800"}"#, #"{"s":"\uD83D\uDE00"}"#, #"{"s":"\/\u00e9"}"#, "{\"s\":\"a\u{1}\"}", #"{"s":"\x"}"#,
            #"{"s":"unterminated}"#, #"{"s":1}"#, #"{"d":{"a":1,"b":2}}"#, #"{"d":[1]}"#, #"{"i":1,}"#, #"[1]"#, #""#, #"{}"#,
            #"{"i":tru}"#, #"{"a":[1,2,]}"#, #"{"a":[,]}"#, #"{"a":[1,,2]}"#, #"{,}"#, #"{"d":{"a":1,},}"#, #"{"a":[1 2]}"#, #"{"i":1 "f":2}"#, #"{"unknown":[1,{"x":null}]}"#,
        ]
        for doc in documents {
            let bytes = Array(doc.utf8)
            let theirs = Result { try Self.foundationDecoder().decode(Probe.self, from: Data(bytes)) }
            let ours = Result { try JSONCoding.decode(Probe.self, from: bytes) }
            switch (theirs, ours) {
            case (.success(let a), .success(let b)):
                XCTAssertEqual(try JSONCoding.encode(b), try JSONCoding.encode(a), doc)
            case (.failure, .failure): break
            case (.success, .failure(let e)): XCTFail("\(doc): Foundation accepts it, ours rejects it: \(e)")
            case (.failure(let e), .success): XCTFail("\(doc): Foundation rejects it (\(e)), ours accepts it")
            }
        }
        XCTAssertThrowsError(try JSONCoding.decode(Probe.self, from: [0x7B, 0x22, 0x73, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])) {
            XCTAssertTrue("\($0)".contains("UTF-8"), "\($0)")
        }
    }

    func testDeepNestingIsRefusedNotACrash() {
        // Far deeper than the stack would allow with unbounded recursion.
        let deep = Array(String(repeating: "[", count: 1_000_000).utf8)
        XCTAssertThrowsError(try JSONCoding.decode([[Int]].self, from: deep)) { XCTAssertTrue("\($0)".contains("nested deeper"), "\($0)") }
        let ok = Array((String(repeating: "[", count: 511) + String(repeating: "]", count: 511)).utf8)
        XCTAssertThrowsError(try JSONCoding.decode([[Int]].self, from: ok)) { XCTAssertTrue("\($0)".contains("expected Int"), "\($0)") }
    }

    func testErrorsNameThePath() {
        let doc = Array(#"{"metadata":5,"graphs":[]}"#.utf8)
        XCTAssertThrowsError(try JSONCoding.decode(Section.self, from: doc)) { error in
            guard case DecodingError.typeMismatch(_, let c) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(c.codingPath.map(\.stringValue), ["metadata"])
        }
    }
}
