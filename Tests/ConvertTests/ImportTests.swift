import Foundation
import Runtime
import TestSupport
import XCTest
@testable import Convert

final class ImportTests: XCTestCase {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/ConvertTests/Fixtures")
    func fixture(_ name: String) -> URL { Self.fixtures.appendingPathComponent(name) }

    /// The error `body` throws, as ConvertError (fails the test otherwise).
    func convertError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ConvertError? {
        do {
            try body()
            XCTFail("no error thrown", file: file, line: line)
        } catch let e as ConvertError {
            XCTAssertFalse(e.description.contains("\n"), "error is one line", file: file, line: line)
            return e
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    func testEveryAttributeType() throws {
        let model = try ONNXModelFile(fixture("attrs.onnx"))
        let g = model.model.pointee.graph!
        let node = cMessages(g.pointee.node, g.pointee.n_node)[0]
        let resolver = try ExternalDataResolver(modelURL: fixture("attrs.onnx"))
        let a = try AttributeDecoding.decode(node, nodeName: "all_attrs", opType: "Everything",
                                             tensors: model.tensorDecoder(external: resolver))
        XCTAssertEqual(a.count, 14)
        guard case .float(let f) = a["f"] else { return XCTFail("f") }
        XCTAssertEqual(f, 0.25)
        guard case .int(let i) = a["i"] else { return XCTFail("i") }
        XCTAssertEqual(i, -7)
        guard case .string(let s) = a["s"] else { return XCTFail("s") }
        XCTAssertEqual(s, "hello")
        guard case .tensor(let t) = a["t"] else { return XCTFail("t") }
        XCTAssertEqual(t.shape, [1, 2])
        XCTAssertEqual(t.scalars(as: Float.self), [1.5, -2.0])
        guard case .graph(let sub) = a["g"] else { return XCTFail("g") }
        XCTAssertEqual(sub, SubgraphSummary(name: "body", opTypes: ["Relu"], inputs: ["a"], outputs: ["b"]))
        guard case .floats(let fs) = a["floats"] else { return XCTFail("floats") }
        XCTAssertEqual(fs, [1.0, 2.5])
        guard case .ints(let iss) = a["ints"] else { return XCTFail("ints") }
        XCTAssertEqual(iss, [3, -4, 5])
        guard case .strings(let ss) = a["strings"] else { return XCTFail("strings") }
        XCTAssertEqual(ss, ["a", "bc"])
        guard case .tensors(let ts) = a["tensors"] else { return XCTFail("tensors") }
        XCTAssertEqual(ts.count, 2)
        XCTAssertTrue(ts[1].bitwiseEqual(t))
        guard case .graphs(let gs) = a["graphs"] else { return XCTFail("graphs") }
        XCTAssertEqual(gs.count, 2)
        guard case .sparseTensor(let sp) = a["sp"] else { return XCTFail("sparse") }
        XCTAssertEqual(sp.shape, [2, 3])
        XCTAssertEqual(sp.scalars(as: Int64.self), [0, 7, 0, 0, 9, 0])
        guard case .sparseTensors(let sps) = a["sps"] else { return XCTFail("sparse tensors") }
        XCTAssertEqual(sps.count, 1)
        guard case .typeProto(let tp) = a["tp"] else { return XCTFail("type proto") }
        XCTAssertEqual(tp, .tensor(elemType: 1, shape: [.symbol("N"), .fixed(3)]))
        guard case .typeProtos(let tps) = a["tps"] else { return XCTFail("type protos") }
        XCTAssertEqual(tps, [tp, .sequence(tp)])
    }

    func testInitializersFromEveryFieldBitExact() throws {
        let m = try ONNXImporter.load(fixture("initializers.onnx"))
        let w = m.graph.initializers
        XCTAssertTrue(w["f32_typed"]!.bitwiseEqual(w["f32_raw"]!))
        XCTAssertEqual(w["f32_typed"]!.shape, [2, 3])
        XCTAssertEqual(w["i64_typed"]!.scalars(as: Int64.self), [1, -2, 1 << 40])
        XCTAssertTrue(w["i64_typed"]!.bitwiseEqual(w["i64_raw"]!))
        XCTAssertEqual(w["i32_typed"]!.scalars(as: Int32.self), [-5, 1 << 30])
        XCTAssertEqual(w["i8_typed"]!.scalars(as: Int8.self), [-128, 0, 127])
        XCTAssertEqual(w["u8_typed"]!.scalars(as: UInt8.self), [0, 200, 255])
        XCTAssertEqual(w["i16_typed"]!.scalars(as: Int16.self), [-30000, 12345])
        XCTAssertEqual(w["u16_typed"]!.scalars(as: UInt16.self), [65535, 1])
        XCTAssertEqual(w["bool_typed"]!.dtype, .bool)
        XCTAssertEqual(w["bool_typed"]!.scalars(as: UInt8.self), [1, 0, 1])
        XCTAssertEqual(w["f16_typed"]!.scalars(as: UInt16.self), [0x3c00, 0xb800, 0x7bff])
        XCTAssertEqual(w["f64_typed"]!.scalars(as: Double.self), [Double.pi, -1e300])
        XCTAssertEqual(w["u64_typed"]!.scalars(as: UInt64.self), [0, UInt64.max])
        XCTAssertEqual(w["u32_typed"]!.scalars(as: UInt32.self), [7, UInt32.max])
        XCTAssertEqual(w["scalar"]!.shape, [])
        XCTAssertEqual(w["scalar"]!.scalars(as: Float.self), [3.5])
        XCTAssertEqual(w["empty"]!.shape, [0, 4])
        // Raw data taken over from the decoder keeps the 64-byte alignment of our own buffers.
        XCTAssertEqual(Int(bitPattern: w["f32_raw"]!.data) % 64, 0)
    }

    func testConstantFormsBecomeInitializers() throws {
        let m = try ONNXImporter.load(fixture("initializers.onnx"))
        let w = m.graph.initializers
        XCTAssertEqual(w["c_tensor"]!.dtype, .int32)
        XCTAssertEqual(w["c_tensor"]!.scalars(as: Int32.self), [1, 2])
        XCTAssertEqual(w["c_float"]!.shape, [])
        XCTAssertEqual(w["c_float"]!.scalars(as: Float.self), [2.5])
        XCTAssertEqual(w["c_floats"]!.scalars(as: Float.self), [1, -1])
        XCTAssertEqual(w["c_int"]!.scalars(as: Int64.self), [-3])
        XCTAssertEqual(w["c_ints"]!.scalars(as: Int64.self), [4, 5, 6])
        XCTAssertEqual(w["c_sparse"]!.scalars(as: Float.self), [0, 5, 6, 0])
        XCTAssertEqual(m.graph.nodes.map(\.op), [.add, .add])
        XCTAssertFalse(m.graph.nodes.contains { $0.op.typeName == "Constant" })
    }

    func testInputsSymbolicDimsAndMetadata() throws {
        let m = try ONNXImporter.load(fixture("initializers.onnx"))
        // f32_raw is listed as an input but is an initializer: not a model input.
        XCTAssertEqual(m.graph.inputs.map(\.name), ["x"])
        let shape = try XCTUnwrap(m.graph.inputs[0].shape)
        XCTAssertEqual(Array(shape.prefix(2)), [.symbol("batch"), .fixed(3)])
        guard case .symbol(let generated) = shape[2] else { return XCTFail("unnamed dim must get a symbol") }
        XCTAssertNotEqual(generated, "batch")
        XCTAssertEqual(m.graph.outputs, [ValueInfo(name: "z", dtype: .float32, shape: [.symbol("batch"), .fixed(3)])])
        XCTAssertEqual(m.graph.valueInfo["y"], ValueInfo(name: "y", dtype: .float32, shape: [.symbol("batch"), .fixed(3)]))
        XCTAssertEqual(m.opsets, ["": 17])
        XCTAssertEqual(m.irVersion, 8)
        XCTAssertEqual(m.producerName, "make.py")
        XCTAssertEqual(m.graph.name, "main")
        // Unnamed nodes get "<OpType>_<index>" (index in the file's node list, Constants included).
        XCTAssertEqual(m.graph.nodes.map(\.name), ["Add_6", "Add_7"])
        let bytes = try Data(contentsOf: fixture("initializers.onnx"))
        XCTAssertEqual(m.sources, [SourceFile(name: "initializers.onnx", sha256: SHA256.hex([UInt8](bytes)), bytes: bytes.count)])
    }

    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Fed in uneven pieces, the digest is the same as in one go.
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var s = SHA256()
        data.withUnsafeBytes { b in
            var at = 0
            for piece in [1, 63, 64, 65, 200, 607] { s.update(UnsafeRawBufferPointer(rebasing: b[at..<at + piece])); at += piece }
        }
        XCTAssertEqual(s.finalizeHex(), SHA256.hex(data))
        XCTAssertEqual(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testExternalData() throws {
        let m = try ONNXImporter.load(fixture("external.onnx"))
        XCTAssertEqual(m.graph.initializers["w"]!.shape, [3, 4])
        XCTAssertEqual(m.graph.initializers["w"]!.scalars(as: Float.self), (0..<12).map { Float($0) * 0.5 })
        XCTAssertEqual(m.graph.initializers["b"]!.scalars(as: Float.self), [-2, -1, 0, 1])
        XCTAssertEqual(m.sources.map(\.name), ["external.onnx", "external.bin"])
        let bin = try Data(contentsOf: fixture("external.bin"))
        XCTAssertEqual(m.sources[1].bytes, bin.count)
        XCTAssertEqual(m.sources[1].sha256, SHA256.hex([UInt8](bin)))
    }

    /// Aligned external data is used from a private mapping: writing into it must neither
    /// crash nor change the file.
    func testExternalDataWritesStayPrivate() throws {
        let m = try ONNXImporter.load(fixture("external.onnx"))
        let b = m.graph.initializers["b"]!
        b.data.assumingMemoryBound(to: Float.self)[0] = 42
        XCTAssertEqual(b.scalars(as: Float.self), [42, -1, 0, 1])
        let again = try ONNXImporter.load(fixture("external.onnx"), hashSources: false)
        XCTAssertEqual(again.graph.initializers["b"]!.scalars(as: Float.self), [-2, -1, 0, 1])
        XCTAssertEqual(again.sources.map(\.sha256), ["", ""])
    }

    func testExternalDataRefusals() throws {
        for (file, expect) in [("external_escape.onnx", "leaves the model's folder"), ("external_absolute.onnx", "is absolute"),
                               ("external_offset.onnx", "outside 'external.bin'"), ("external_short.onnx", "outside 'external.bin'"),
                               ("external_length.onnx", "does not match")] {
            let e = convertError { _ = try ONNXImporter.load(fixture(file)) }
            guard case .externalData(_, let tensor, let what)? = e else { XCTFail("\(file): \(String(describing: e))"); continue }
            XCTAssertEqual(tensor, "w", file)
            XCTAssertTrue(what.contains(expect), "\(file): \(what)")
        }
    }

    func testExternalDataSymlinkOutOfFolder() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-symlink-\(getpid())")
        let inside = tmp.appendingPathComponent("model"), outside = tmp.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.copyItem(at: fixture("external.onnx"), to: inside.appendingPathComponent("external.onnx"))
        try FileManager.default.copyItem(at: fixture("external.bin"), to: outside.appendingPathComponent("external.bin"))
        try FileManager.default.createSymbolicLink(at: inside.appendingPathComponent("external.bin"),
                                                   withDestinationURL: outside.appendingPathComponent("external.bin"))
        let e = convertError { _ = try ONNXImporter.load(inside.appendingPathComponent("external.onnx")) }
        guard case .externalData(_, _, let what)? = e else { return XCTFail(String(describing: e)) }
        XCTAssertTrue(what.contains("outside the model's folder"), what)
    }

    func testTruncatedAndGarbageFiles() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-bad-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let good = try Data(contentsOf: fixture("initializers.onnx"))
        var rng = SeededRandom(seed: 11)
        let garbage = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let cases: [(String, Data)] = [("empty.onnx", Data()), ("garbage.onnx", garbage),
                                       ("truncated.onnx", good.prefix(good.count / 2)), ("text.onnx", Data("hello, not a model".utf8))]
        for (name, data) in cases {
            let url = tmp.appendingPathComponent(name)
            try data.write(to: url)
            let e = convertError { _ = try ONNXImporter.load(url) }
            guard case .badModel(let file, _)? = e else { XCTFail("\(name): \(String(describing: e))"); continue }
            XCTAssertEqual(file, name)
        }
        // Every truncation point of a real model fails cleanly (no crash).
        for cut in stride(from: 1, to: good.count, by: 97) {
            let url = tmp.appendingPathComponent("cut.onnx")
            try good.prefix(cut).write(to: url)
            XCTAssertThrowsError(try ONNXImporter.load(url))
        }
        let e = convertError { _ = try ONNXImporter.load(tmp.appendingPathComponent("missing.onnx")) }
        guard case .io? = e else { return XCTFail(String(describing: e)) }
    }

    func testUnsupportedOpsListedAllAtOnce() throws {
        let e = convertError { _ = try ONNXImporter.load(fixture("unsupported.onnx")) }
        guard case .unsupportedOps(_, let ops)? = e else { return XCTFail(String(describing: e)) }
        XCTAssertEqual(ops.map(\.opType), ["NonMaxSuppression", "Hardmax", "FusedGemm", "Gelu"])
        XCTAssertEqual(ops[0].count, 2)
        XCTAssertEqual(ops[0].nodes, ["nms1", "nms2"])
        XCTAssertEqual(ops[1].nodes, ["Hardmax_3"])
        XCTAssertEqual(ops[2].domain, "com.microsoft")
        XCTAssertEqual(ops[2].opset, 1)
        XCTAssertEqual(ops[3].reason, "needs opset 20")
        XCTAssertTrue(e!.description.contains("NonMaxSuppression (ai.onnx, opset 17) x2: nms1, nms2"), e!.description)
    }

    func testBrokenGraphs() throws {
        if case .duplicateName(_, let name, let what)? = convertError({ _ = try ONNXImporter.load(fixture("duplicate_output.onnx")) }) {
            XCTAssertEqual(name, "a")
            XCTAssertTrue(what.contains("'r1'") && what.contains("'r2'"), what)
        } else { XCTFail("duplicate output") }
        XCTAssertEqual(convertError { _ = try ONNXImporter.load(fixture("dangling.onnx")) },
                       .danglingInput(file: "dangling.onnx", node: "adder", op: "Add", input: "ghost"))
        if case .cycle(_, let nodes)? = convertError({ _ = try ONNXImporter.load(fixture("cycle.onnx")) }) {
            XCTAssertEqual(Set(nodes), ["n_a", "n_b", "n_c"])
        } else { XCTFail("cycle") }
        if case .badTensor(_, let t, let what)? = convertError({ _ = try ONNXImporter.load(fixture("short_raw.onnx")) }) {
            XCTAssertEqual(t, "w")
            XCTAssertTrue(what.contains("20 bytes"), what)
        } else { XCTFail("short raw") }
        if case .badTensor(_, _, let what)? = convertError({ _ = try ONNXImporter.load(fixture("negative_dim.onnx")) }) {
            XCTAssertTrue(what.contains("negative"), what)
        } else { XCTFail("negative dim") }
        if case .badNode(_, _, let op, let what)? = convertError({ _ = try ONNXImporter.load(fixture("bad_resize_mode.onnx")) }) {
            XCTAssertEqual(op, "Resize")
            XCTAssertTrue(what.contains("'bicubic'"), what)
        } else { XCTFail("bad resize mode") }
    }

    func testOutOfOrderNodesAreSorted() throws {
        let m = try ONNXImporter.load(fixture("unordered.onnx"))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.relu, .neg])
    }

    func testTypedAttributesOpset17() throws {
        let m = try ONNXImporter.load(fixture("ops17.onnx"))
        let ops = Dictionary(uniqueKeysWithValues: m.graph.nodes.map { ($0.name, $0) })
        XCTAssertEqual(ops["conv"]?.op, .conv(ConvAttrs(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])))
        XCTAssertEqual(ops["resize"]?.op, .resize(ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners)))
        XCTAssertEqual(ops["resize"]?.inputs, ["c", "", "scales"])
        XCTAssertEqual(ops["rmean"]?.op, .reduce(.mean, ReduceAttrs(axes: [2, 3], keepDims: true)))
        XCTAssertEqual(ops["rsum"]?.op, .reduce(.sum, ReduceAttrs(axes: nil, keepDims: false)))
        XCTAssertEqual(ops["rsum"]?.inputs, ["r", "axes"])
        XCTAssertEqual(ops["gemm"]?.op, .gemm(GemmAttrs(alpha: 0.5, transB: true)))
        XCTAssertEqual(ops["split13"]?.op, .split(axis: 1, numOutputs: nil))
        XCTAssertEqual(ops["drop"]?.op, .identity)
        XCTAssertEqual(ops["drop"]?.outputs, ["dr"])
        XCTAssertEqual(ops["pool"]?.op, .maxPool(PoolAttrs(kernelShape: [2, 2], strides: [2, 2], ceilMode: true)))
        XCTAssertEqual(ops["cos"]?.op, .constantOfShape(dtype: .int64, value: 7))
        XCTAssertEqual(ops["cast"]?.op, .cast(to: .float32))
        XCTAssertEqual(ops["shape"]?.op, .shape(start: 1, end: -1))
    }

    func testTypedAttributesOpset20() throws {
        let m = try ONNXImporter.load(fixture("ops20.onnx"))
        let ops = Dictionary(uniqueKeysWithValues: m.graph.nodes.map { ($0.name, $0.op) })
        XCTAssertEqual(ops["rmean18"], .reduce(.mean, ReduceAttrs(axes: nil, keepDims: false)))
        XCTAssertEqual(ops["split18"], .split(axis: 1, numOutputs: 2))
        XCTAssertEqual(ops["gelu"], .gelu(tanh: true))
        XCTAssertEqual(m.opsets[""], 20)
    }
}
