import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// golden/manifest.json and the models it names, converted once per test process.
enum GoldenFixtures {
    static let root = repositoryRoot.appendingPathComponent("golden")

    nonisolated(unsafe) static let manifest: [String: Any] = {
        let url = root.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            fatalError("golden/manifest.json is missing or unreadable: run golden/make/run.sh")
        }
        return json
    }()

    /// Another manifest in golden/ (same case format), e.g. "manifest-modern.json".
    static func manifest(named name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(name))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LSegError.badArgument("golden/\(name) is not a JSON object")
        }
        return json
    }

    static var cases: [[String: Any]] { manifest["cases"] as? [[String: Any]] ?? [] }
    static var models: [[String: Any]] { manifest["models"] as? [[String: Any]] ?? [] }

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static let vocabulary: [UInt8] = {
        let bytes = (try? [UInt8](Data(contentsOf: url("vocab/bpe_simple_vocab_16e6.txt.gz")))) ?? []
        return (try? Inflate.gunzip(bytes)) ?? []
    }()

    static func options() -> Conversion.Options {
        var o = Conversion.Options()
        o.vocabulary = vocabulary
        o.inputSize = (128, 128)
        return o
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var converted: [String: Model] = [:]

    /// The converted model for a manifest model key such as "tiny/lseg".
    static func model(_ key: String) throws -> Model {
        lock.lock(); defer { lock.unlock() }
        if let m = converted[key] { return m }
        let m = try Conversion.convert(url("models/\(key).onnx"), options: options()).model
        converted[key] = m
        return m
    }

    static func tensor(_ spec: Any?) throws -> Tensor {
        guard let s = spec as? [String: Any], let file = s["file"] as? String else { throw LSegError.badArgument("bad tensor spec \(String(describing: spec))") }
        return try NPY.read(path: url(file).path)
    }

    /// Runs a converted model as the original export ran: all graphs in link order.
    static func run(_ model: Model, _ inputs: [String: Tensor], threads: Int = 2) throws -> [String: Tensor] {
        try ModelRunner(model: model, threads: threads).runAll(inputs: inputs)
    }
}

/// One output of one reference case: our value and ONNX Runtime's.
struct CaseOutput {
    var label: String
    var actual: Tensor
    var expected: Tensor
    var maxAbsError: Float
    var maxAbsReference: Float
}

extension GoldenFixtures {
    /// Converts the case's model (cached), runs it on the case's inputs, and pairs every output
    /// with its reference; a missing output or a shape mismatch is a test failure.
    static func outputs(of c: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> [CaseOutput] {
        let key = c["model"] as! String, name = c["name"] as! String
        let model = try GoldenFixtures.model(key)
        var inputs: [String: Tensor] = [:]
        for (k, spec) in c["inputs"] as! [String: Any] { inputs[k] = try GoldenFixtures.tensor(spec) }
        let outs = try GoldenFixtures.run(model, inputs)
        var result: [CaseOutput] = []
        for (k, spec) in c["outputs"] as! [String: Any] {
            let expected = try GoldenFixtures.tensor(spec)
            let label = "\(key)/\(name) \(k)"
            guard let actual = outs[k] else {
                XCTFail("\(label): no output (have \(outs.keys.sorted()))", file: file, line: line)
                continue
            }
            guard actual.shape == expected.shape else {
                XCTFail("\(label): shape \(actual.shape), reference \(expected.shape)", file: file, line: line)
                continue
            }
            let a = actual.scalars(as: Float.self), e = expected.scalars(as: Float.self)
            result.append(CaseOutput(label: label, actual: actual, expected: expected,
                                     maxAbsError: zip(a, e).map { abs($0 - $1) }.max() ?? 0,
                                     maxAbsReference: e.map(abs).max() ?? 0))
        }
        return result
    }
}

/// Share of pixels whose argmax label agrees, for [1, N, H, W] logits.
func maskAgreement(_ actual: Tensor, _ expected: Tensor) -> Double {
    let ma = argmaxMask(actual), me = argmaxMask(expected)
    return Double(zip(ma, me).filter { $0 == $1 }.count) / Double(me.count)
}

/// Argmax over axis 1 of [1, N, H, W] logits.
func argmaxMask(_ t: Tensor) -> [Int] {
    let n = t.shape[1], hw = t.shape[2] * t.shape[3]
    let v = t.scalars(as: Float.self)
    return (0..<hw).map { p in
        var best = 0
        for k in 1..<n where v[k * hw + p] > v[best * hw + p] { best = k }
        return best
    }
}
