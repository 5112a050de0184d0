import XCTest
import Foundation
import Convert
import LSeg
import Runtime
import TestSupport
@testable import Quantize

/// The golden tiny LSeg model, converted once, and the golden images.
enum QuantizeFixtures {
    static func url(_ rel: String) -> URL { repositoryRoot.appendingPathComponent("golden/" + rel) }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var models: [String: Model] = [:]

    static func model(_ rel: String) throws -> Model {
        lock.lock(); defer { lock.unlock() }
        if let m = models[rel] { return m }
        var o = Conversion.Options()
        o.vocabulary = try Inflate.gunzip([UInt8](Data(contentsOf: url("vocab/bpe_simple_vocab_16e6.txt.gz"))))
        o.inputSize = (128, 128)
        let m = try Conversion.convert(url(rel), options: o).model
        models[rel] = m
        return m
    }

    static func images(_ folder: String, limit: Int, _ m: Model) throws -> [Tensor] {
        let paths = try CalibrationImages.find(in: url(folder).path).filter { !$0.hasSuffix("_mask.png") }
        return CalibrationImages.load(paths, limit: limit, preprocessing: m.metadata.preprocessing!) { XCTFail($0) }.map(\.tensor)
    }

    struct Scenes {
        var images: [RGBImage]
        var masks: [[Int32]]
        var labels: [[String]]
        var allLabels: [String]
    }

    static func scenes() throws -> Scenes {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url("scenes/labels.json"))) as! [String: Any]
        let perScene = json["scenes"] as! [String: [String]]
        var s = Scenes(images: [], masks: [], labels: [], allLabels: json["all_labels"] as! [String])
        for name in perScene.keys.sorted() {
            s.images.append(try ImageIO.read(path: url("scenes/\(name).png").path))
            let mask = try ImageIO.read(path: url("scenes/\(name)_mask.png").path)
            s.masks.append(stride(from: 0, to: mask.pixels.count, by: 3).map { Int32(mask.pixels[$0]) })
            s.labels.append(perScene[name]!)
        }
        return s
    }

    /// Label maps at each scene's size.
    static func segment(_ m: Model, _ s: Scenes) throws -> [[Int32]] {
        let d = try LSegDriver(model: m, threads: 2)
        let p = m.metadata.preprocessing!
        return try zip(s.images, s.labels).map { image, labels in
            let x = try preprocessTensor(image, height: p.height, width: p.width, mean: p.mean, std: p.std)
            let l = try d.logits(x, labels: labels)
            return try labelMap(logits: l.scalars(as: Float.self), count: l.shape[1], height: l.shape[2], width: l.shape[3],
                                outHeight: image.height, outWidth: image.width)
        }
    }

    static func logits(_ m: Model) throws -> [Float] {
        let dir = url("ref/tiny-lseg/random3/inputs")
        let out = try ModelRunner(model: m, threads: 2).runAll(inputs: [
            "image": try NPY.read(path: dir.appendingPathComponent("image.npy").path),
            "tokens": try NPY.read(path: dir.appendingPathComponent("tokens.npy").path)])
        return out["logits"]!.scalars(as: Float.self)
    }

    static func weightBytes(_ m: Model) -> Int {
        m.graphs.reduce(0) { $0 + $1.initializers.filter { $0.key != m.metadata.vocabularyTensor }.values.reduce(0) { $0 + $1.byteCount } }
    }
}

func sqnr(_ reference: [Float], _ x: [Float]) -> Double {
    var s = 0.0, n = 0.0
    for (a, b) in zip(reference, x) { s += Double(a) * Double(a); n += Double(a - b) * Double(a - b) }
    return n == 0 ? .infinity : 10 * log10(s / n)
}

final class QuantizedModelTests: XCTestCase {
    func testFloat16PackMatchesFloat32AndHalvesWeights() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        let (fp16, report) = try Quantizer.quantize(fp32, images: [], options: { var o = QuantizeOptions(); o.mode = .fp16; return o }())
        XCTAssertEqual(report.mode, "fp16")
        XCTAssertTrue(fp16.graphs.contains { g in g.initializers.values.contains { $0.dtype == .float16 } })
        let ratio = Double(QuantizeFixtures.weightBytes(fp16)) / Double(QuantizeFixtures.weightBytes(fp32))
        XCTAssertGreaterThan(ratio, 0.45); XCTAssertLessThan(ratio, 0.6, "weights should about halve, ratio \(ratio)")
        // Through a pack file, as a user gets it: the casts fold at plan time.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("quantize-fp16-\(getpid()).pack")
        defer { try? FileManager.default.removeItem(at: file) }
        try Pack.write(fp16, to: file.path)
        let reference = try QuantizeFixtures.logits(fp32)
        let got = try QuantizeFixtures.logits(try Pack.read(file.path))
        let scale = reference.map(abs).max()!
        let worst = zip(reference, got).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1e-3 * scale, "fp16 logits differ by \(worst) (max |logit| \(scale))")
    }

    func testInt8WeightsQuantizesWeightsAndTokenTable() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        var m = fp32
        var replaced: [String] = []
        for i in m.graphs.indices { replaced += Int8WeightsRewrite.apply(&m.graphs[i]) }
        let text = m.graph(named: "text")!
        // The token embedding table (the largest text tensor) is among them.
        let biggest = fp32.graph(named: "text")!.initializers.filter { $0.value.dtype == .float32 }.max { $0.value.count < $1.value.count }!.key
        XCTAssertTrue(replaced.contains(biggest), "\(biggest) not quantized")
        XCTAssertEqual(text.initializers[biggest + "__int8"]?.dtype, .int8)
        XCTAssertNotNil(m.metadata.vocabularyTensor.flatMap { text.initializers[$0] }, "the vocabulary must survive")
        // Every replaced weight is stored in a quarter of its float32 bytes (plus its scales).
        for name in replaced {
            let g = fp32.graphs.first { $0.initializers[name] != nil }!
            let before = g.initializers[name]!.byteCount
            let after = m.graph(named: g.name)!.initializers[name + "__int8"]!.byteCount
            XCTAssertEqual(after * 4, before, "\(name): \(after) int8 bytes for \(before) float bytes")
        }
        XCTAssertLessThan(QuantizeFixtures.weightBytes(m), QuantizeFixtures.weightBytes(fp32) / 2)
        let s = sqnr(try QuantizeFixtures.logits(fp32), try QuantizeFixtures.logits(m))
        XCTAssertGreaterThan(s, 30, "int8-weights logits SQNR \(s) dB")
    }

    func testKeepFloatLeavesMatchingNodes() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        let g = fp32.graph(named: "image")!
        let all = Int8Rewrite.candidates(g)
        let kept = Int8Rewrite.candidates(g, keepFloat: NamePatterns(["/image/refinenet*"]))
        XCTAssertFalse(all.isEmpty)
        XCTAssertTrue(kept.allSatisfy { !$0.node.hasPrefix("/image/refinenet") })
        XCTAssertLessThan(kept.count, all.count)
        var rewritten = g
        let ranges = Dictionary(uniqueKeysWithValues: all.map { ($0.node, ClipRange(lower: -1, upper: 1)) })
        let done = Int8Rewrite.apply(&rewritten, ranges: ranges, keepFloat: NamePatterns(["/image/refinenet*"]))
        XCTAssertEqual(Set(done), Set(kept.map(\.node)))
        for n in rewritten.nodes where n.name.hasPrefix("/image/refinenet") {
            if case .qConv = n.op { XCTFail("\(n.name) should stay float") }
        }
    }

    /// Calibrated int8 on the tiny model, measured through the float emulation of qLinear/qConv.
    func testInt8CalibratedAgreesWithFloat32() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        var o = QuantizeOptions()
        o.mode = .int8; o.threads = 2; o.emulateInt8 = true
        let photos = try QuantizeFixtures.images("photos", limit: 8, fp32)
        XCTAssertEqual(photos.count, 8)
        let (int8, report) = try Quantizer.quantize(fp32, images: photos, options: o)
        let qNodes = int8.graphs.flatMap(\.nodes).filter {
            switch $0.op {
            case .qLinear, .qConv, .qConvTranspose: return true
            default: return false
            }
        }
        XCTAssertEqual(qNodes.count, report.layers.count)
        // DPT's reassemble upsamplings (kernel == stride) run in int8 too.
        XCTAssertTrue(qNodes.contains { if case .qConvTranspose = $0.op { return true }; return false })
        XCTAssertGreaterThan(qNodes.count, 40)
        XCTAssertTrue(report.layers.allSatisfy { $0.scale > 0 && $0.scale.isFinite && !$0.fallbackRange })
        XCTAssertEqual(int8.metadata.quantization["mode"], "int8")
        XCTAssertEqual(int8.metadata.quantization["layers_quantized"], String(qNodes.count))
        // Text tower intact on the golden labels.
        let scenes = try QuantizeFixtures.scenes()
        let e = try Evaluator(reference: fp32, quantized: Int8Emulation.lower(int8), nodes: [:], ranges: [:], threads: 2)
        let images = try scenes.images.prefix(16).map { try preprocessTensor($0, height: 128, width: 128, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]) }
        let e2e = try e.run(images: images, labelBatches: [scenes.allLabels])
        XCTAssertGreaterThan(e2e.textCosineMin, 0.99)
        // The random tiny model's 17 similar labels give near-tied logits, so its masks flip
        // easily; the logits themselves must stay close (int8 is ~6 dB per bit).
        XCTAssertGreaterThan(e2e.maskAgreement, 0.9)
        let s = sqnr(try QuantizeFixtures.logits(fp32), try QuantizeFixtures.logits(Int8Emulation.lower(int8)))
        XCTAssertGreaterThan(s, 25, "int8 logits SQNR \(s) dB")
    }

    /// The int8 kernels compute what the emulation computes (fails until the kernels land).
    func testInt8KernelsMatchEmulation() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        var o = QuantizeOptions()
        o.mode = .int8; o.threads = 2
        o.emulateInt8 = true
        let photos = try QuantizeFixtures.images("photos", limit: 4, fp32)
        let (int8, _) = try Quantizer.quantize(fp32, images: photos, options: o)
        let emulated = try QuantizeFixtures.logits(Int8Emulation.lower(int8))
        let kernels = try QuantizeFixtures.logits(int8)
        let s = sqnr(emulated, kernels)
        XCTAssertGreaterThan(s, 40, "int8 kernels vs emulation SQNR \(s) dB")
    }

    func testMaxDropReturnsLayersToFloat() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        var o = QuantizeOptions()
        o.mode = .int8; o.threads = 2; o.emulateInt8 = true; o.method = .minmax
        o.maxDrop = 0
        o.labels = ["background", "red circle", "blue square"]
        let photos = try QuantizeFixtures.images("photos", limit: 4, fp32)
        let (_, report) = try Quantizer.quantize(fp32, images: photos, options: o)
        let e = try XCTUnwrap(report.endToEnd)
        if e.maskAgreement < 1 {
            XCTAssertFalse(report.notes.isEmpty, "agreement \(e.maskAgreement) below 1 must be explained")
        }
        XCTAssertEqual(report.keptFloat.count, report.layers.filter { $0.status != "int8" }.count)
        for l in report.layers where l.status != "int8" { XCTAssertTrue(l.status.contains("--max-drop")) }
    }
}
