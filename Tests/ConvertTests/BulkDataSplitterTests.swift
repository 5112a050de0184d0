import COnnx
import Foundation
import Runtime
import TestSupport
import XCTest
@testable import Convert

/// The wire-format walker that keeps large raw_data out of libprotobuf-c's unpack: the pruned
/// copy decodes to the same structure, the ranges point at the right bytes, and malformed input
/// makes it step aside (nil) so the ordinary unpack reports the error.
final class BulkDataSplitterTests: XCTestCase {
    // A minimal protobuf writer for hand-made messages.
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
    static func bytesField(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(UInt64(payload.count)) + payload
    }
    static func intField(_ number: UInt64, _ v: UInt64) -> [UInt8] { varint(number << 3) + varint(v) }

    /// TensorProto float32 [n] named `name` with raw_data of n floats.
    static func tensor(_ name: String, _ values: [Float]) -> [UInt8] {
        let raw = values.withUnsafeBytes { Array($0) }
        return intField(1, UInt64(values.count)) + intField(2, 1) + bytesField(8, Array(name.utf8)) + bytesField(9, raw)
    }

    /// ModelProto (ir 8, opset 17): y = Add(w, c) where w is an initializer and c a Constant.
    static func model(w: [Float], c: [Float]) -> [UInt8] {
        let constant = bytesField(2, Array("c".utf8)) + bytesField(4, Array("Constant".utf8)) + bytesField(3, Array("const".utf8))
            + bytesField(5, bytesField(1, Array("value".utf8)) + bytesField(5, tensor("c_value", c)) + intField(20, 4))
        let add = bytesField(1, Array("w".utf8)) + bytesField(1, Array("c".utf8)) + bytesField(2, Array("y".utf8))
            + bytesField(3, Array("add".utf8)) + bytesField(4, Array("Add".utf8))
        let floatType = { (dims: [UInt64]) -> [UInt8] in
            bytesField(1, intField(1, 1) + bytesField(2, dims.flatMap { bytesField(1, intField(1, $0)) }))
        }
        let output = bytesField(1, Array("y".utf8)) + bytesField(2, floatType([UInt64(w.count)]))
        let graph = bytesField(1, constant) + bytesField(1, add) + bytesField(2, Array("g".utf8))
            + bytesField(5, tensor("w", w)) + bytesField(12, output)
        return intField(1, 8) + bytesField(7, graph) + bytesField(8, bytesField(1, []) + intField(2, 17))
    }

    static let w: [Float] = (0..<3000).map { Float($0) * 0.25 }
    static let c: [Float] = (0..<3000).map { Float($0) * -0.5 }

    func split(_ bytes: [UInt8], minimumBytes: Int = BulkDataSplitter.minimumBytes) -> BulkDataSplitter.Split? {
        bytes.withUnsafeBytes { BulkDataSplitter.split($0, minimumBytes: minimumBytes) }
    }

    func testSplitFindsInitializerAndConstantData() throws {
        let bytes = Self.model(w: Self.w, c: Self.c)
        let s = try XCTUnwrap(split(bytes))
        XCTAssertEqual(s.bulkBytes, 2 * 12_000)
        XCTAssertLessThan(s.pruned.count, bytes.count - 24_000, "both payloads left out")
        let wRange = try XCTUnwrap(s.initializers[0])
        XCTAssertEqual(Array(bytes[wRange]), Self.w.withUnsafeBytes { Array($0) })
        let cRange = try XCTUnwrap(s.attributes[.init(node: 0, attribute: 0)])
        XCTAssertEqual(Array(bytes[cRange]), Self.c.withUnsafeBytes { Array($0) })
        // The pruned copy is valid protobuf with everything but the payloads.
        let m = try XCTUnwrap(s.pruned.withUnsafeBytes { lseg_onnx_model_unpack($0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count) })
        defer { lseg_onnx_model_free(m) }
        let g = m.pointee.graph!.pointee
        XCTAssertEqual(g.n_initializer, 1)
        XCTAssertEqual(g.initializer[0]!.pointee.has_raw_data, 0)
        XCTAssertEqual(g.initializer[0]!.pointee.n_dims, 1)
        XCTAssertEqual(g.n_node, 2)
        XCTAssertEqual(String(cString: g.node[1]!.pointee.op_type), "Add")
    }

    func testImportThroughSplitGivesTheSameTensors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("splitter-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.onnx")
        let bytes = Self.model(w: Self.w, c: Self.c)
        try Data(bytes).write(to: url)
        let decoded = try ONNXModelFile(url)
        XCTAssertEqual(decoded.bulk.count, 2, "both payloads come from the mapping")
        let imported = try ONNXImporter.load(url)
        XCTAssertEqual(imported.sources[0].sha256, SHA256.hex(bytes))
        let g = imported.graph
        XCTAssertEqual(g.initializers["w"]?.scalars(as: Float.self), Self.w)
        XCTAssertEqual(g.initializers["c"]?.scalars(as: Float.self), Self.c)
        for t in g.initializers.values { XCTAssertEqual(Int(bitPattern: t.storage.pointer) % TensorStorage.alignment, 0) }
    }

    func testRawDataOfTheWrongSizeIsReported() throws {
        // w's dims say 3001 elements, raw_data holds 3000.
        var bytes = Self.model(w: Self.w, c: Self.c)
        let dims = Self.intField(1, 3000), wrong = Self.intField(1, 3001)
        let at = try XCTUnwrap(findSubsequence(bytes, Self.tensor("w", Self.w)))
        bytes.replaceSubrange(at..<(at + dims.count), with: wrong)
        XCTAssertNotNil(split(bytes))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("splitter-size-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.onnx")
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try ONNXImporter.load(url)) { e in
            XCTAssertEqual("\(e)".contains("raw_data holds 12000 bytes but float32[3001] needs 12004"), true, "\(e)")
        }
    }

    func findSubsequence(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    func testMalformedWireFormatMakesTheSplitterStepAside() {
        let good = Self.model(w: Self.w, c: Self.c)
        var cases: [(String, [UInt8])] = [
            ("truncated key varint", [0x80]),
            ("truncated length varint", [0x3a, 0x80]),
            ("length past the end", [0x3a, 0x05, 0x00]),
            ("eleven-byte varint", Self.intField(1, 1) + [0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01]),
            ("group wire type", [0x3b]),
            ("field number zero", [0x02, 0x00]),
            ("graph given twice (protobuf would merge)", good + Self.bytesField(7, [])),
            ("no graph", Self.intField(1, 8)),
            ("graph not length-delimited", [0x38, 0x01]),
        ]
        // Nested length mismatch: an initializer claiming more bytes than its graph holds.
        let inner = Self.bytesField(5, Self.tensor("w", Self.w))
        var lying = inner
        lying.replaceSubrange(1..<3, with: Self.varint(UInt64(inner.count)))  // 12.0 KB payload -> 2-byte length
        cases.append(("initializer longer than its graph", Self.intField(1, 8) + Self.bytesField(7, lying)))
        // Truncated inside a payload.
        cases.append(("truncated model", Array(good[0..<(good.count / 2)])))
        for (what, bytes) in cases {
            XCTAssertNil(split(bytes), what)
        }
        // Small payloads only: nothing worth splitting.
        XCTAssertNil(split(Self.model(w: [1, 2], c: [3])), "small model")
        // A tensor with raw_data twice (the last wins in protobuf) keeps both for the unpack.
        let twice = Self.intField(1, 8) + Self.bytesField(7, Self.bytesField(5, Self.tensor("w", Self.w) + Self.bytesField(9, [0, 0, 0, 0])))
        XCTAssertNil(split(twice), "raw_data twice")
    }

    /// Whatever the splitter makes of a file, importing it never traps and errors stay one line.
    func testMalformedFilesStillGetOneLineErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("splitter-bad-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = Self.model(w: Self.w, c: Self.c)
        var rng = SeededRandom(seed: 11)
        for k in 0..<40 {
            var b = good
            if k < 20 {
                b = Array(b[0..<Int(rng.next() % UInt64(b.count))])
            } else {
                for _ in 0..<3 { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            let url = folder.appendingPathComponent("m\(k).onnx")
            try Data(b).write(to: url)
            do {
                _ = try ONNXImporter.load(url)
            } catch let e as ConvertError {
                XCTAssertFalse(e.description.contains("\n"), e.description)
            } catch {
                XCTFail("case \(k): unexpected error \(error)")
            }
        }
    }
}

import CHash

/// The C SHA-256: the AVX2 schedule path (two blocks at a time) agrees with the scalar one at
/// every block count and alignment, and the streaming API with the one-shot digest.
final class SHA256KernelTests: XCTestCase {
    func testVectorAndScalarPathsAgree() {
        var rng = SeededRandom(seed: 21)
        let data = (0..<(64 * 37 + 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { b in
            for offset in [0, 1, 3] {
                for blocks in [0, 1, 2, 3, 7, 36] {
                    var a = lseg_sha256_state(), s = lseg_sha256_state()
                    lseg_sha256_init(&a); lseg_sha256_init(&s)
                    lseg_sha256_blocks(&a, b.baseAddress! + offset, blocks)
                    lseg_sha256_blocks_scalar(&s, b.baseAddress! + offset, blocks)
                    XCTAssertTrue(withUnsafeBytes(of: a.h) { x in withUnsafeBytes(of: s.h) { y in x.elementsEqual(y) } }, "offset \(offset), \(blocks) blocks")
                }
            }
        }
        var streamed = SHA256()
        var at = 0
        for step in [1, 63, 64, 65, 200, 1000] where at < data.count {
            let n = min(step, data.count - at)
            data[at..<(at + n)].withUnsafeBytes { streamed.update($0) }
            at += n
        }
        data[at...].withUnsafeBytes { streamed.update($0) }
        XCTAssertEqual(streamed.finalizeHex(), SHA256.hex(data))
    }
}
