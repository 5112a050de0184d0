@testable import Convert
import Foundation
import Runtime
import TestSupport
import XCTest

/// AttentionFusion: the ViT self-attention of the image tower (qkv Reshape, Transpose, Gathers,
/// scaled scores, Softmax, weighted sum, back to [B, N, C]) becomes one `.attention` on the
/// golden exports of both exporters, computes what the unfused graph computes, leaves the text
/// tower's masked attention alone, and leaves near misses alone.
final class AttentionFusionTests: XCTestCase {
    // MARK: golden exports

    /// Every image block's attention fuses (4 in the tiny ViT), the text tower's masked ones do
    /// not, and the outputs match the unfused graph. Logits reach about 14; the fused kernel
    /// reassociates 65-term softmax sums and products inside every block, so compare at 1e-4.
    func testFiresOnTorchScriptAndDynamoExportsAndComputesTheSame() throws {
        let image = randomTensor([1, 3, 128, 128], seed: 1)
        let features = randomTensor([3, 512], seed: 2)
        let cases: [(String, [String: Tensor], Int)] = [
            ("tiny/lseg.onnx", ["image": image, "tokens": tokens(3)], 2),
            ("tiny/lseg_opset14.onnx", ["image": image, "tokens": tokens(3)], 2),
            ("modern/dynamo_lseg.onnx", ["image": image, "tokens": tokens(3)], 2),
            ("tiny/image.onnx", ["image": image, "text_features": features], 0),
            ("modern/dynamo_image_arch1.onnx", ["image": image, "text_features": features], 0),
        ]
        for (file, feeds, textSoftmaxes) in cases {
            let g = try imported(file)
            var fused = g, plain = g
            _ = try Pipeline.optimize(&fused)
            _ = try Pipeline.optimize(&plain, options: Pipeline.Options(fuse: false))
            XCTAssertEqual(count(fused, "Attention"), 4, file)
            XCTAssertEqual(count(fused, "Softmax"), textSoftmaxes, file)
            XCTAssertEqual(count(plain, "Attention"), 0, file)
            for node in fused.nodes {
                guard case .attention(let attrs) = node.op else { continue }
                // The tiny ViT: width 32 in 2 heads of 16.
                XCTAssertEqual(attrs.heads, 2, file)
                XCTAssertEqual(attrs.scale, 0.25, accuracy: 1e-6, file)
            }
            try PassReferenceExecutor.assertSameOutputs(plain, fused, feeds, rtol: 1e-4, atol: 1e-4)
        }
    }

    /// The committed tiny model's converted image graph carries the fused op (so the golden
    /// tests exercise it), reading the qkv Linear directly; the text graph keeps its Softmax.
    func testConvertedPackGraphsCarryTheOp() throws {
        var options = Conversion.Options()
        options.hashSources = false
        options.vocabulary = Array("#version: 0.2\n".utf8)
        let result = try Conversion.convert(repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx"), options: options)
        let image = try XCTUnwrap(result.model.graph(named: "image"))
        let text = try XCTUnwrap(result.model.graph(named: "text"))
        XCTAssertEqual(count(image, "Attention"), 4)
        XCTAssertEqual(count(image, "Softmax"), 0)
        XCTAssertEqual(count(text, "Attention"), 0)
        XCTAssertEqual(count(text, "Softmax"), 2)
        for node in image.nodes where node.op.typeName == "Attention" {
            let producer = try XCTUnwrap(image.nodes.first { $0.outputs.contains(node.inputs[0]) })
            XCTAssertEqual(producer.op.typeName, "Linear")
        }
    }

    // MARK: synthetic patterns

    struct Pattern {
        var batch = 2, tokens = 5, heads = 3, headDim = 4
        var scoreScale: Op? = .mul          // .mul, .div or nil (no scale on the scores)
        var scaleQK = false                 // sqrt(scale) on q and on k (after the k Transpose)
        var gatherIndices = [0, 1, 2]
        var qkvPerm = [2, 0, 3, 1, 4]
        var kPerm = [0, 1, 3, 2]
        var outPerm = [0, 2, 1, 3]
        var softmaxAxis = -1
        var mask = false                    // Add a constant mask to the scores
        var scoresAreOutput = false         // a second reader of the scores
        var width: Int { heads * headDim }
    }

    private func graph(_ p: Pattern) -> Graph {
        let c = p.width
        var inits: [String: Tensor] = [
            "shape5": i64([p.batch, p.tokens, 3, p.heads, p.headDim]),
            "shape3": i64([p.batch, p.tokens, c]),
            "i0": .int64([Int64(p.gatherIndices[0])], shape: []),
            "i1": .int64([Int64(p.gatherIndices[1])], shape: []),
            "i2": .int64([Int64(p.gatherIndices[2])], shape: []),
        ]
        let scale = 1 / Float(p.headDim).squareRoot()
        var nodes = [
            Node(name: "r", op: .reshape(allowZero: false), inputs: ["qkv", "shape5"], outputs: ["r"]),
            Node(name: "t", op: .transpose(perm: p.qkvPerm), inputs: ["r"], outputs: ["t"]),
            Node(name: "gq", op: .gather(axis: 0), inputs: ["t", "i0"], outputs: ["q"]),
            Node(name: "gk", op: .gather(axis: 0), inputs: ["t", "i1"], outputs: ["k"]),
            Node(name: "gv", op: .gather(axis: 0), inputs: ["t", "i2"], outputs: ["v"]),
            Node(name: "kt", op: .transpose(perm: p.kPerm), inputs: ["k"], outputs: ["kt"]),
        ]
        var q = "q", kt = "kt"
        if p.scaleQK {
            inits["root"] = .float32([scale.squareRoot()], shape: [])
            nodes.append(Node(name: "mq", op: .mul, inputs: ["q", "root"], outputs: ["qs"]))
            nodes.append(Node(name: "mk", op: .mul, inputs: ["root", "kt"], outputs: ["kts"]))
            q = "qs"; kt = "kts"
        }
        nodes.append(Node(name: "mm", op: .matMul, inputs: [q, kt], outputs: ["s"]))
        var s = "s"
        switch p.scoreScale {
        case .mul?:
            inits["scale"] = .float32([scale], shape: [])
            nodes.append(Node(name: "scale", op: .mul, inputs: [s, "scale"], outputs: ["ss"])); s = "ss"
        case .div?:
            inits["scale"] = .float32([1 / scale], shape: [1])
            nodes.append(Node(name: "scale", op: .div, inputs: [s, "scale"], outputs: ["ss"])); s = "ss"
        default:
            break
        }
        if p.mask {
            var m = [Float](repeating: 0, count: p.tokens * p.tokens)
            for i in 0..<p.tokens { for j in (i + 1)..<p.tokens { m[i * p.tokens + j] = -.infinity } }
            inits["mask"] = .float32(m, shape: [p.tokens, p.tokens])
            nodes.append(Node(name: "mask", op: .add, inputs: [s, "mask"], outputs: ["sm"])); s = "sm"
        }
        nodes += [
            Node(name: "softmax", op: .softmax(axis: p.softmaxAxis), inputs: [s], outputs: ["p"]),
            Node(name: "mm2", op: .matMul, inputs: ["p", "v"], outputs: ["o"]),
            Node(name: "ot", op: .transpose(perm: p.outPerm), inputs: ["o"], outputs: ["ot"]),
            Node(name: "or", op: .reshape(allowZero: false), inputs: ["ot", "shape3"], outputs: ["y"]),
        ]
        var outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        if p.scoresAreOutput { outputs.append(ValueInfo(name: "s", dtype: .float32, shape: nil)) }
        return Graph(name: "attn", inputs: [f32("qkv", [p.batch, p.tokens, 3 * c])], outputs: outputs, nodes: nodes, initializers: inits)
    }

    /// Shape inference then the pass alone; returns the rewritten graph and the rewrite count.
    private func fuse(_ g: Graph) throws -> (Graph, Int) {
        var h = g
        _ = try ShapeInference.run(&h)
        let stats = AttentionFusion.run(&h)
        return (h, stats.rewrites)
    }

    func testVariantsFuseAndComputeTheSame() throws {
        var variants: [(String, Pattern, Float)] = []
        variants.append(("scale on the scores", Pattern(), 0.5))
        variants.append(("divided scores", { var p = Pattern(); p.scoreScale = .div; return p }(), 0.5))
        variants.append(("scale on q and k", { var p = Pattern(); p.scoreScale = nil; p.scaleQK = true; return p }(), 0.5))
        variants.append(("no scale, negative gather indices", { var p = Pattern(); p.scoreScale = nil; p.gatherIndices = [-3, -2, -1]; return p }(), 1))
        variants.append(("one head, one token", { var p = Pattern(); p.heads = 1; p.tokens = 1; p.batch = 1; return p }(), 0.5))
        variants.append(("head width 64, 145 tokens", { var p = Pattern(); p.headDim = 64; p.tokens = 145; p.batch = 1; p.heads = 2; return p }(), 0.125))
        for (what, p, expectedScale) in variants {
            let original = graph(p)
            let (g, rewrites) = try fuse(original)
            XCTAssertEqual(rewrites, 1, what)
            var cleaned = g
            _ = DeadCodeElimination.run(&cleaned)
            XCTAssertEqual(opNames(cleaned), ["Attention"], what)
            guard case .attention(let attrs) = cleaned.nodes.first?.op else { XCTFail(what); continue }
            XCTAssertEqual(attrs.heads, p.heads, what)
            XCTAssertEqual(attrs.scale, expectedScale, accuracy: 1e-6, what)
            XCTAssertEqual(cleaned.nodes.first?.inputs, ["qkv"], what)
            XCTAssertEqual(cleaned.nodes.first?.outputs, ["y"], what)
            // |qkv| <= 2: reassociated sums of up to 145 + 64 terms, within 1e-5.
            let feeds = ["qkv": randomTensor([p.batch, p.tokens, 3 * p.width], seed: 30, -2, 2)]
            try PassReferenceExecutor.assertSameOutputs(original, cleaned, feeds, rtol: 1e-5, atol: 1e-5)
        }
    }

    func testNearMissesAreLeftAlone() throws {
        var misses: [(String, Pattern)] = []
        misses.append(("qkv perm", { var p = Pattern(); p.qkvPerm = [2, 0, 1, 3, 4]; p.tokens = 3; p.heads = 3; return p }()))
        misses.append(("k perm", { var p = Pattern(); p.kPerm = [0, 1, 2, 3]; p.headDim = 5; p.tokens = 5; return p }()))
        misses.append(("output perm", { var p = Pattern(); p.outPerm = [0, 1, 2, 3]; return p }()))
        misses.append(("softmax on another axis", { var p = Pattern(); p.softmaxAxis = 2; return p }()))
        misses.append(("second reader of the scores", { var p = Pattern(); p.scoresAreOutput = true; return p }()))
        misses.append(("mask added to the scores", { var p = Pattern(); p.mask = true; return p }()))
        misses.append(("q and k swapped", { var p = Pattern(); p.gatherIndices = [1, 0, 2]; return p }()))
        for (what, p) in misses {
            let original = graph(p)
            var shaped = original
            let inferred = try? ShapeInference.run(&shaped)
            guard inferred != nil else { continue }  // an ill-formed near miss (bad perm) cannot fuse either
            let (g, rewrites) = try fuse(original)
            XCTAssertEqual(rewrites, 0, what)
            XCTAssertEqual(count(g, "Attention"), 0, what)
            XCTAssertEqual(count(g, "Softmax"), 1, what)
        }
    }
}
