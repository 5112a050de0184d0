@testable import Convert
import Foundation
import Runtime
import TestSupport
import XCTest

/// NormalizedProjectionFusion: LSeg's head (upsample, per-pixel L2 norm, logit scale, product
/// with the text features, back to NCHW) becomes one `.normalizedProjection` on the golden
/// exports of both exporters, computes what the unfused graph computes, and near misses are
/// left alone.
final class NormalizedProjectionFusionTests: XCTestCase {
    // MARK: golden exports

    /// Optimizes `g` with and without fusions; checks the fused one has the op and computes the same.
    private func assertFusesAndMatches(_ g: Graph, _ feeds: [String: Tensor], _ what: String) throws {
        var fused = g, plain = g
        _ = try Pipeline.optimize(&fused)
        _ = try Pipeline.optimize(&plain, options: Pipeline.Options(fuse: false))
        XCTAssertEqual(count(fused, "NormalizedProjection"), 1, what)
        XCTAssertEqual(count(plain, "NormalizedProjection"), 0, what)
        let head = try XCTUnwrap(fused.nodes.first { $0.op.typeName == "NormalizedProjection" })
        guard case .normalizedProjection(let attrs) = head.op else { return XCTFail(what) }
        XCTAssertEqual(attrs.scale, 1 / 0.07, accuracy: 1e-4, what)
        XCTAssertEqual(attrs.normGuard, .none, what)
        XCTAssertEqual(attrs.upsample, .init(coordinateTransformation: .alignCorners, scales: [2, 2]), what)
        // Logits are up to about 14: compare to float rounding of 512-term sums.
        try PassReferenceExecutor.assertSameOutputs(plain, fused, feeds, rtol: 1e-4, atol: 1e-4)
    }

    func testFiresOnTorchScriptAndDynamoExportsAndComputesTheSame() throws {
        let image = randomTensor([1, 3, 128, 128], seed: 1)
        let features = randomTensor([3, 512], seed: 2)
        for file in ["tiny/lseg.onnx", "tiny/lseg_opset14.onnx", "modern/dynamo_lseg.onnx"] {
            try assertFusesAndMatches(try imported(file), ["image": image, "tokens": tokens(3)], file)
        }
        for file in ["tiny/image.onnx", "modern/dynamo_image_arch1.onnx"] {
            try assertFusesAndMatches(try imported(file), ["image": image, "text_features": features], file)
        }
    }

    /// Label baking stores the text features as a constant: after folding, the MatMul reads a
    /// constant [C, N], which the op gets transposed to [N, C].
    func testFiresOnLabelBakedFeatures() throws {
        var g = try imported("tiny/image.onnx")
        g.inputs.removeAll { $0.name == "text_features" }
        g.initializers["text_features"] = randomTensor([4, 512], seed: 3)
        try assertFusesAndMatches(g, ["image": randomTensor([1, 3, 128, 128], seed: 4)], "baked")
        var fused = g
        _ = try Pipeline.optimize(&fused)
        let head = try XCTUnwrap(fused.nodes.first { $0.op.typeName == "NormalizedProjection" })
        XCTAssertEqual(fused.initializers[head.inputs[1]]?.shape, [4, 512])
    }

    func testConvertedPackGraphsCarryTheOp() throws {
        var options = Conversion.Options()
        options.hashSources = false
        options.vocabulary = Array("#version: 0.2\n".utf8)
        let result = try Conversion.convert(repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx"), options: options)
        let image = try XCTUnwrap(result.model.graph(named: "image"))
        XCTAssertEqual(count(image, "NormalizedProjection"), 1)
        let head = try XCTUnwrap(image.nodes.first { $0.op.typeName == "NormalizedProjection" })
        XCTAssertEqual(head.inputs[1], "text_features", "the op reads the text tower's output directly")
        // head1 (512 channels) runs before the upsample, which the op does itself; the logits
        // resize to the input size follows.
        let producer = try XCTUnwrap(image.nodes.first { $0.outputs.contains(head.inputs[0]) })
        XCTAssertEqual(producer.op.typeName, "Conv")
        XCTAssertEqual(image.initializers[producer.inputs[1]]?.shape.first, 512)
        let last = try XCTUnwrap(image.nodes.first { $0.outputs.contains("logits") })
        XCTAssertEqual(last.op.typeName, "Resize")
        XCTAssertEqual(last.inputs[0], head.outputs[0])
    }

    // MARK: synthetic pattern and near misses

    private struct Pattern {
        var resize = ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners)
        var withResize = true
        var sizes = false
        var reduceAxes = [-1]
        var l2 = false
        var clipFloor: Float?
        var epsilon: Float?
        var scaleAfterReshape = false
        var scale = Tensor.float32([14.285714], shape: [])
        var reshape1 = [-1, 6]
        var reshape2 = [1, 6, 8, -1]
        var perm2 = [0, 3, 1, 2]
        var bakedFeatures = false
        var divIsOutput = false
    }

    /// x [1, 6, 3, 4] upsampled to [1, 6, 6, 8], F [2, 6]: y [1, 2, 6, 8].
    private func graph(_ p: Pattern) -> Graph {
        var nodes: [Node] = []
        var inits: [String: Tensor] = ["scale": p.scale, "axes": i64(p.reduceAxes), "shape1": i64(p.reshape1), "shape2": i64(p.reshape2)]
        var u = "x"
        if p.withResize {
            if p.sizes {
                inits["sizes"] = i64([1, 6, 6, 8])
                nodes.append(Node(name: "up", op: .resize(p.resize), inputs: ["x", "", "", "sizes"], outputs: ["u"]))
            } else {
                inits["scales"] = .float32([1, 1, 2, 2], shape: [4])
                nodes.append(Node(name: "up", op: .resize(p.resize), inputs: ["x", "", "scales"], outputs: ["u"]))
            }
            u = "u"
        }
        nodes.append(Node(name: "t1", op: .transpose(perm: [0, 2, 3, 1]), inputs: [u], outputs: ["t"]))
        var norm: String
        if p.l2 {
            nodes.append(Node(name: "l2", op: .reduce(.l2, ReduceAttrs()), inputs: ["t", "axes"], outputs: ["n"]))
            norm = "n"
        } else {
            nodes.append(Node(name: "sq", op: .mul, inputs: ["t", "t"], outputs: ["sq"]))
            nodes.append(Node(name: "sum", op: .reduce(.sum, ReduceAttrs()), inputs: ["sq", "axes"], outputs: ["s"]))
            var radicand = "s"
            if let e = p.epsilon {
                inits["eps"] = .float32([e], shape: [])
                nodes.append(Node(name: "addeps", op: .add, inputs: ["s", "eps"], outputs: ["se"]))
                radicand = "se"
            }
            nodes.append(Node(name: "root", op: .sqrt, inputs: [radicand], outputs: ["n"]))
            norm = "n"
        }
        if let floor = p.clipFloor {
            inits["floor"] = .float32([floor], shape: [])
            nodes.append(Node(name: "clip", op: .clip, inputs: [norm, "floor"], outputs: ["nc"]))
            norm = "nc"
        }
        nodes.append(Node(name: "div", op: .div, inputs: ["t", norm], outputs: ["d"]))
        nodes.append(Node(name: "flat", op: .reshape(allowZero: false), inputs: ["d", "shape1"], outputs: ["flat"]))
        let a: String
        if p.scaleAfterReshape {
            nodes.append(Node(name: "scale", op: .mul, inputs: ["flat", "scale"], outputs: ["a"]))
            a = "a"
        } else {
            // TorchScript order: logit_scale * (image_features reshaped).
            nodes.append(Node(name: "scale", op: .mul, inputs: ["scale", "flat"], outputs: ["a"]))
            a = "a"
        }
        var inputs = [f32("x", [1, 6, 3, 4])]
        let features = randomTensor([2, 6], seed: 21)
        if p.bakedFeatures {
            let v = features.scalars(as: Float.self)
            inits["ft"] = .float32((0..<12).map { v[($0 % 2) * 6 + $0 / 2] }, shape: [6, 2])
            nodes.append(Node(name: "mm", op: .matMul, inputs: [a, "ft"], outputs: ["m"]))
        } else {
            inputs.append(f32("F", [2, 6]))
            nodes.append(Node(name: "tf", op: .transpose(perm: [1, 0]), inputs: ["F"], outputs: ["ft"]))
            nodes.append(Node(name: "mm", op: .matMul, inputs: [a, "ft"], outputs: ["m"]))
        }
        nodes.append(Node(name: "back", op: .reshape(allowZero: false), inputs: ["m", "shape2"], outputs: ["r"]))
        nodes.append(Node(name: "t2", op: .transpose(perm: p.perm2), inputs: ["r"], outputs: ["y"]))
        var outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        if p.divIsOutput { outputs.append(ValueInfo(name: "d", dtype: .float32, shape: nil)) }
        return Graph(name: "head", inputs: inputs, outputs: outputs, nodes: nodes, initializers: inits)
    }

    private func feeds(_ p: Pattern) -> [String: Tensor] {
        var f = ["x": randomTensor([1, 6, 3, 4], seed: 20)]
        if !p.bakedFeatures { f["F"] = randomTensor([2, 6], seed: 21) }
        return f
    }

    /// Shape inference then the pass alone; returns the rewritten graph and the rewrite count.
    private func fuse(_ g: Graph) throws -> (Graph, Int) {
        var h = g
        _ = try ShapeInference.run(&h)
        let stats = NormalizedProjectionFusion.run(&h)
        return (h, stats.rewrites)
    }

    func testVariantsFuseAndComputeTheSame() throws {
        var variants: [(String, Pattern, NormalizedProjectionAttrs.NormGuard)] = []
        variants.append(("torchscript", Pattern(), .none))
        variants.append(("dynamo ReduceL2, scale after reshape", { var p = Pattern(); p.l2 = true; p.scaleAfterReshape = true; p.reshape1 = [48, 6]; return p }(), .none))
        variants.append(("sizes input, half_pixel", { var p = Pattern(); p.sizes = true; p.resize.coordinateTransformation = .halfPixel; return p }(), .none))
        variants.append(("normalize with clamp", { var p = Pattern(); p.l2 = true; p.clipFloor = 1e-3; return p }(), .clampNorm(epsilon: 1e-3)))
        variants.append(("epsilon under the root", { var p = Pattern(); p.epsilon = 0.25; return p }(), .addToSquaredSum(epsilon: 0.25)))
        variants.append(("baked features", { var p = Pattern(); p.bakedFeatures = true; return p }(), .none))
        variants.append(("no upsample", { var p = Pattern(); p.withResize = false; p.reshape2 = [1, 3, 4, -1]; return p }(), .none))
        for (what, p, expectedGuard) in variants {
            let original = graph(p)
            let (g, rewrites) = try fuse(original)
            XCTAssertEqual(rewrites, 1, what)
            guard case .normalizedProjection(let attrs) = g.nodes.last?.op else { XCTFail(what); continue }
            XCTAssertEqual(attrs.normGuard, expectedGuard, what)
            XCTAssertEqual(attrs.upsample == nil, !p.withResize, what)
            XCTAssertEqual(attrs.scale, 14.285714, accuracy: 1e-5, what)
            XCTAssertEqual(g.nodes.last?.outputs, ["y"], what)
            var cleaned = g
            _ = DeadCodeElimination.run(&cleaned)
            XCTAssertEqual(opNames(cleaned), ["NormalizedProjection"], what)
            try PassReferenceExecutor.assertSameOutputs(original, g, feeds(p), rtol: 1e-5, atol: 1e-5)
        }
    }

    func testCubicResizeStaysAndTheRestFuses() throws {
        var p = Pattern()
        p.resize = ResizeAttrs(mode: .cubic, coordinateTransformation: .halfPixel)
        let original = graph(p)
        let (g, rewrites) = try fuse(original)
        XCTAssertEqual(rewrites, 1)
        XCTAssertEqual(opNames(g).first, "Resize")
        guard case .normalizedProjection(let attrs) = g.nodes.last?.op else { return XCTFail("not fused") }
        XCTAssertNil(attrs.upsample)
        try PassReferenceExecutor.assertSameOutputs(original, g, feeds(p), rtol: 1e-5, atol: 1e-5)
    }

    func testNearMissesAreLeftAlone() throws {
        let cases: [(String, Pattern)] = [
            ("norm over the wrong axis", { var p = Pattern(); p.reduceAxes = [2]; return p }()),
            ("per-channel scale", { var p = Pattern(); p.scale = randomTensor([6], seed: 5); return p }()),
            ("output transposed differently", { var p = Pattern(); p.perm2 = [0, 3, 2, 1]; return p }()),
            ("height and width swapped back", { var p = Pattern(); p.reshape2 = [1, 8, 6, -1]; return p }()),
            ("normalized features also an output", { var p = Pattern(); p.divIsOutput = true; return p }()),
        ]
        for (what, p) in cases {
            let original = graph(p)
            var shaped = original
            _ = try ShapeInference.run(&shaped)
            let (g, rewrites) = try fuse(original)
            XCTAssertEqual(rewrites, 0, what)
            XCTAssertEqual(g.nodes, shaped.nodes, what)
        }
    }
}
