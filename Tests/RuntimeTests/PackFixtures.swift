import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// Models and file helpers shared by the pack tests.
enum PackFixtures {
    static func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func tensor(_ dtype: DType, _ shape: [Int], seed: UInt64, quant: QuantParams? = nil) -> Tensor {
        let n = Tensor.elementCount(shape) * dtype.byteSize
        var t = randomBytes(n, seed: seed).withUnsafeBytes {
            Tensor(dtype: dtype, shape: shape, storage: TensorStorage(copying: $0))
        }
        t.quant = quant
        return t
    }

    /// Two graphs sharing an initializer name, every dtype, odd/empty/scalar shapes, quant params,
    /// symbolic dims, -inf and NaN attributes, the vocabulary as a uint8 tensor.
    static func model() -> Model {
        var text = Graph(name: "text")
        text.inputs = [ValueInfo(name: "tokens", dtype: .int64, shape: [.symbol("N"), .fixed(77)])]
        text.outputs = [ValueInfo(name: "features", dtype: .float32, shape: [.symbol("N"), .fixed(512)]),
                        ValueInfo(name: "unknown_rank", dtype: .float32, shape: nil)]
        text.nodes = [
            Node(name: "mask", op: .constantOfShape(dtype: .float32, value: -.infinity), inputs: ["shape"], outputs: ["m"]),
            Node(name: "nan", op: .constantOfShape(dtype: .float32, value: .nan), inputs: ["shape"], outputs: ["nan_out"]),
            Node(name: "gemm", op: .gemm(GemmAttrs(alpha: 0.5, transB: true)), inputs: ["tokens", "w", ""], outputs: ["g"]),
            Node(name: "ln", op: .layerNorm(axis: -1, epsilon: 1e-5), inputs: ["g", "scale", "bias"], outputs: ["features"]),
            Node(name: "resize", op: .resize(ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners)),
                 inputs: ["features", "", "scales"], outputs: ["r"]),
        ]
        text.valueInfo = ["g": ValueInfo(name: "g", dtype: .float32, shape: [.symbol("N"), .symbol("Resize_dim_2")])]
        var seed: UInt64 = 1
        for dtype in DType.allCases {
            seed += 1
            text.initializers["all_\(dtype)"] = tensor(dtype, [3, 5, 7], seed: seed)
        }
        text.initializers["w"] = tensor(.float32, [257, 129], seed: 100)
        text.initializers["empty"] = tensor(.float32, [0, 4], seed: 101)
        text.initializers["scalar"] = tensor(.int64, [], seed: 102)
        text.initializers["odd"] = tensor(.float16, [1, 3, 1, 1, 11], seed: 103)
        text.initializers["zeros"] = Tensor(dtype: .float32, shape: [64, 64])
        text.initializers["q_channel"] = tensor(.int8, [4, 33], seed: 104,
                                                quant: QuantParams(scales: [0.1, 0.2, 0.3, 0.4], zeroPoints: [0, 0, 0, 0], axis: 0))
        text.initializers["q_tensor"] = tensor(.uint8, [9], seed: 105, quant: QuantParams(scales: [0.02], zeroPoints: [128]))
        let vocab = Array(String(repeating: "#version: 0.2\ni n\nt h\na n\nr e\n", count: 200).utf8)
        text.initializers["vocab"] = Tensor(dtype: .uint8, shape: [vocab.count], scalars: vocab)

        var image = Graph(name: "image")
        image.inputs = [ValueInfo(name: "pixels", dtype: .float32, shape: [.fixed(1), .fixed(3), .symbol("H"), .symbol("W")])]
        image.outputs = [ValueInfo(name: "logits", dtype: .float32, shape: [.fixed(1), .symbol("N"), .symbol("H"), .symbol("W")])]
        image.nodes = [Node(name: "conv", op: .conv(ConvAttrs(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
                            inputs: ["pixels", "w"], outputs: ["logits"])]
        image.initializers["w"] = tensor(.float32, [8, 3, 3, 3], seed: 200)

        var meta = Metadata()
        meta.sources = [SourceFile(name: "lseg.onnx", sha256: String(repeating: "ab", count: 32), bytes: 12345)]
        meta.roles = ["text": "text", "image": "image"]
        meta.links = [GraphLink(fromGraph: "text", fromOutput: "features", toGraph: "image", toInput: "text_features")]
        meta.preprocessing = Preprocessing(height: 384, width: 384)
        meta.vocabularyTensor = "vocab"
        meta.quantization = ["scheme": "int8 per-channel"]
        meta.extra = ["opset": "17"]
        return Model(metadata: meta, graphs: [text, image])
    }

    /// A fresh temporary folder, removed by the test's teardown block.
    static func folder(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("packtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Asserts that `body` throws RuntimeError.badPack whose message contains every one of `fragments`.
func assertBadPack(_ fragments: [String], _ message: String = "", file: StaticString = #filePath, line: UInt = #line,
                   _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("\(message): no error, expected one mentioning \(fragments)", file: file, line: line)
    } catch let RuntimeError.badPack(_, what) {
        for f in fragments where !what.contains(f) {
            XCTFail("\(message): error '\(what)' does not mention '\(f)'", file: file, line: line)
        }
    } catch {
        XCTFail("\(message): unexpected error \(error)", file: file, line: line)
    }
}
