@testable import Convert
import Runtime
import TestSupport
import XCTest

/// Fusion passes: each builds the unfused pattern, checks the rewrite's structure, and (once
/// the kernels exist) checks the fused graph computes the same as the unfused one.
final class PassFusionTests: XCTestCase {
    // MARK: Linear

    private func matMulAddGraph(biasFirst: Bool = false, biasShape: [Int] = [5]) -> Graph {
        Graph(name: "lin", inputs: [f32("x", [2, 3, 4])], outputs: [f32("y", [2, 3, 5])], nodes: [
            Node(name: "mm", op: .matMul, inputs: ["x", "W"], outputs: ["h"]),
            Node(name: "add", op: .add, inputs: biasFirst ? ["b", "h"] : ["h", "b"], outputs: ["y"]),
        ], initializers: ["W": randomTensor([4, 5], seed: 1), "b": randomTensor(biasShape, seed: 2)])
    }

    func testMatMulAddBecomesLinear() {
        for biasFirst in [false, true] {
            var g = matMulAddGraph(biasFirst: biasFirst)
            let s = LinearFusion.run(&g)
            XCTAssertEqual(s.rewrites, 1)
            XCTAssertEqual(g.nodes, [Node(name: "add", op: .linear(LinearAttrs(transB: false)), inputs: ["x", "W", "b"], outputs: ["y"])])
        }
    }

    func testMatMulAddWithRowBiasUsesVectorBias() {
        var g = matMulAddGraph(biasShape: [1, 5])
        _ = LinearFusion.run(&g)
        XCTAssertEqual(opNames(g), ["Linear"])
        let bias = g.initializers[g.nodes[0].inputs[2]]!
        XCTAssertEqual(bias.shape, [5])
        XCTAssertEqual(bias.scalars(as: Float.self), g.initializers["b"]!.scalars(as: Float.self))
    }

    func testMatMulAddNotFusedWhenIntermediateIsShared() {
        var g = matMulAddGraph()
        g.outputs.append(f32("h", [2, 3, 5]))
        XCTAssertEqual(LinearFusion.run(&g).rewrites, 0)
        var g2 = matMulAddGraph()
        g2.initializers["b"] = randomTensor([4], seed: 3)  // wrong bias length
        XCTAssertEqual(LinearFusion.run(&g2).rewrites, 0)
        var g3 = matMulAddGraph()
        g3.inputs[0].shape = [.fixed(4)]  // a vector x: MatMul means something else
        XCTAssertEqual(LinearFusion.run(&g3).rewrites, 0)
    }

    private func gemmGraph(alpha: Float = 1) -> Graph {
        Graph(name: "gemm", inputs: [f32("x", [3, 4])], outputs: [f32("y", [3, 6])], nodes: [
            Node(name: "gemm", op: .gemm(GemmAttrs(alpha: alpha, transB: true)), inputs: ["x", "W", "c"], outputs: ["y"]),
        ], initializers: ["W": randomTensor([6, 4], seed: 4), "c": randomTensor([6], seed: 5)])
    }

    func testGemmBecomesLinearWithTransB() {
        var g = gemmGraph()
        XCTAssertEqual(LinearFusion.run(&g).rewrites, 1)
        XCTAssertEqual(g.nodes, [Node(name: "gemm", op: .linear(LinearAttrs(transB: true)), inputs: ["x", "W", "c"], outputs: ["y"])])
        var scaled = gemmGraph(alpha: 0.5)
        XCTAssertEqual(LinearFusion.run(&scaled).rewrites, 0)
    }

    func testLinearFusionNumerics() throws {
        try PassReferenceExecutor.requireKernels([(.matMul, [randomTensor([2, 4], seed: 1), randomTensor([4, 5], seed: 2)]),
                                                  (.linear(LinearAttrs()), [randomTensor([2, 4], seed: 1), randomTensor([4, 5], seed: 2), randomTensor([5], seed: 3)])])
        let feeds = ["x": randomTensor([2, 3, 4], seed: 9)]
        for original in [matMulAddGraph(), matMulAddGraph(biasFirst: true, biasShape: [1, 5])] {
            var fused = original
            _ = LinearFusion.run(&fused)
            try PassReferenceExecutor.assertSameOutputs(original, fused, feeds, rtol: 1e-5, atol: 1e-6)
        }
        let gemm = gemmGraph()
        var fused = gemm
        _ = LinearFusion.run(&fused)
        try PassReferenceExecutor.assertSameOutputs(gemm, fused, ["x": randomTensor([3, 4], seed: 10)])
    }

    // MARK: LayerNorm

    private func decomposedLayerNorm(squareWithMul: Bool = false, exponent: Float = 2, eps: Float = 1e-5,
                                     axesAsInput: Bool = false, withBeta: Bool = true) -> Graph {
        let c = 8
        let mean: (String, String, String) -> Node = { name, x, y in
            axesAsInput
                ? Node(name: name, op: .reduce(.mean, ReduceAttrs(axes: nil, keepDims: true)), inputs: [x, "axes"], outputs: [y])
                : Node(name: name, op: .reduce(.mean, ReduceAttrs(axes: [-1], keepDims: true)), inputs: [x], outputs: [y])
        }
        var nodes = [
            mean("m1", "x", "m"),
            Node(name: "sub", op: .sub, inputs: ["x", "m"], outputs: ["d"]),
            squareWithMul ? Node(name: "sq", op: .mul, inputs: ["d", "d"], outputs: ["p"])
                          : Node(name: "sq", op: .pow, inputs: ["d", "two"], outputs: ["p"]),
            mean("m2", "p", "v"),
            Node(name: "addeps", op: .add, inputs: ["v", "eps"], outputs: ["e"]),
            Node(name: "sqrt", op: .sqrt, inputs: ["e"], outputs: ["s"]),
            Node(name: "div", op: .div, inputs: ["d", "s"], outputs: ["n"]),
            Node(name: "mulg", op: .mul, inputs: ["n", "gamma"], outputs: [withBeta ? "gn" : "y"]),
        ]
        if withBeta { nodes.append(Node(name: "addb", op: .add, inputs: ["gn", "beta"], outputs: ["y"])) }
        return Graph(name: "ln", inputs: [f32("x", [2, 5, c])], outputs: [f32("y", [2, 5, c])], nodes: nodes, initializers: [
            "two": scalar(exponent), "eps": scalar(eps), "axes": .int64([-1], shape: [1]),
            "gamma": randomTensor([c], seed: 11, 0.5, 1.5), "beta": randomTensor([c], seed: 12),
        ])
    }

    func testDecomposedLayerNormFuses() {
        for (mulSquare, axesInput) in [(false, false), (true, false), (false, true)] {
            var g = decomposedLayerNorm(squareWithMul: mulSquare, eps: 1e-6, axesAsInput: axesInput)
            XCTAssertEqual(LayerNormFusion.run(&g).rewrites, 1)
            XCTAssertEqual(g.nodes, [Node(name: "addb", op: .layerNorm(axis: 2, epsilon: 1e-6), inputs: ["x", "gamma", "beta"], outputs: ["y"])])
        }
        var noBeta = decomposedLayerNorm(withBeta: false)
        XCTAssertEqual(LayerNormFusion.run(&noBeta).rewrites, 1)
        XCTAssertEqual(noBeta.nodes.map(\.inputs), [["x", "gamma"]])
    }

    func testLayerNormLookalikesAreLeftAlone() {
        var cube = decomposedLayerNorm(exponent: 3)
        XCTAssertEqual(LayerNormFusion.run(&cube).rewrites, 0)
        var vectorEps = decomposedLayerNorm()
        vectorEps.initializers["eps"] = .float32([1e-5, 1e-5], shape: [2])
        XCTAssertEqual(LayerNormFusion.run(&vectorEps).rewrites, 0)
        var firstAxis = decomposedLayerNorm(axesAsInput: true)
        firstAxis.initializers["axes"] = .int64([1], shape: [1])
        XCTAssertEqual(LayerNormFusion.run(&firstAxis).rewrites, 0)
        var sharedDiff = decomposedLayerNorm()
        sharedDiff.outputs.append(f32("d", [2, 5, 8]))
        XCTAssertEqual(LayerNormFusion.run(&sharedDiff).rewrites, 0)
    }

    func testLayerNormFusionNumerics() throws {
        try PassReferenceExecutor.requireKernels([(.layerNorm(axis: 1, epsilon: 1e-5), [randomTensor([2, 4], seed: 1), randomTensor([4], seed: 2), randomTensor([4], seed: 3)]),
                                                  (.reduce(.mean, ReduceAttrs(axes: [-1])), [randomTensor([2, 4], seed: 1)]),
                                                  (.pow, [randomTensor([2], seed: 1), scalar(2)]), (.sqrt, [randomTensor([2], seed: 1, 1, 2)])])
        for original in [decomposedLayerNorm(), decomposedLayerNorm(squareWithMul: true, axesAsInput: true), decomposedLayerNorm(withBeta: false)] {
            var fused = original
            _ = LayerNormFusion.run(&fused)
            XCTAssertEqual(fused.nodes.count, 1)
            try PassReferenceExecutor.assertSameOutputs(original, fused, ["x": randomTensor([2, 5, 8], seed: 13, -3, 3)], rtol: 1e-4, atol: 1e-5)
        }
    }

    // MARK: GELU and QuickGELU

    /// The exporter forms of x * 0.5 * (1 + erf(x / sqrt 2)).
    private func geluGraph(form: Int) -> Graph {
        var nodes: [Node] = []
        if form == 1 {
            nodes.append(Node(name: "scale", op: .mul, inputs: ["invsqrt2", "x"], outputs: ["t"]))
        } else {
            nodes.append(Node(name: "scale", op: .div, inputs: ["x", "sqrt2"], outputs: ["t"]))
        }
        nodes.append(Node(name: "erf", op: .erf, inputs: ["t"], outputs: ["e"]))
        nodes.append(Node(name: "plus1", op: .add, inputs: ["e", "one"], outputs: ["a"]))
        switch form {
        case 0, 1:  // (x * (1 + erf)) * 0.5
            nodes.append(Node(name: "m1", op: .mul, inputs: ["x", "a"], outputs: ["xa"]))
            nodes.append(Node(name: "m2", op: .mul, inputs: ["xa", "half"], outputs: ["y"]))
        case 2:  // (x * 0.5) * (1 + erf)
            nodes.insert(Node(name: "xhalf", op: .mul, inputs: ["x", "half"], outputs: ["xh"]), at: 0)
            nodes.append(Node(name: "m1", op: .mul, inputs: ["xh", "a"], outputs: ["y"]))
        default:  // x * ((1 + erf) * 0.5)
            nodes.append(Node(name: "m1", op: .mul, inputs: ["half", "a"], outputs: ["ah"]))
            nodes.append(Node(name: "m2", op: .mul, inputs: ["x", "ah"], outputs: ["y"]))
        }
        return Graph(name: "gelu", inputs: [f32("x", [3, 7])], outputs: [f32("y", [3, 7])], nodes: nodes, initializers: [
            "sqrt2": scalar(1.4142135), "invsqrt2": scalar(0.70710678), "one": scalar(1), "half": scalar(0.5),
        ])
    }

    func testGeluFormsFuse() {
        for form in 0..<4 {
            var g = geluGraph(form: form)
            XCTAssertEqual(GeluFusion.run(&g).rewrites, 1, "form \(form)")
            XCTAssertEqual(g.nodes.map(\.op), [.gelu(tanh: false)], "form \(form)")
            XCTAssertEqual(g.nodes.first?.inputs, ["x"])
            XCTAssertEqual(g.nodes.first?.outputs, ["y"])
        }
    }

    func testGeluLookalikeIsLeftAlone() {
        var g = geluGraph(form: 0)
        g.initializers["half"] = scalar(0.6)
        XCTAssertEqual(GeluFusion.run(&g).rewrites, 0)
        var h = geluGraph(form: 0)
        h.initializers["sqrt2"] = scalar(2)
        XCTAssertEqual(GeluFusion.run(&h).rewrites, 0)
    }

    private func quickGeluGraph(swapped: Bool) -> Graph {
        Graph(name: "qg", inputs: [f32("x", [3, 7])], outputs: [f32("y", [3, 7])], nodes: [
            Node(name: "scale", op: .mul, inputs: swapped ? ["k", "x"] : ["x", "k"], outputs: ["t"]),
            Node(name: "sig", op: .sigmoid, inputs: ["t"], outputs: ["s"]),
            Node(name: "out", op: .mul, inputs: swapped ? ["s", "x"] : ["x", "s"], outputs: ["y"]),
        ], initializers: ["k": scalar(1.702)])
    }

    func testQuickGeluFuses() {
        for swapped in [false, true] {
            var g = quickGeluGraph(swapped: swapped)
            XCTAssertEqual(QuickGeluFusion.run(&g).rewrites, 1)
            XCTAssertEqual(g.nodes, [Node(name: "out", op: .quickGelu, inputs: ["x"], outputs: ["y"])])
        }
        var plainSwish = quickGeluGraph(swapped: false)
        plainSwish.initializers["k"] = scalar(1)
        XCTAssertEqual(QuickGeluFusion.run(&plainSwish).rewrites, 0)
    }

    func testGeluFusionNumerics() throws {
        try PassReferenceExecutor.requireKernels([(.erf, [randomTensor([2], seed: 1)]), (.gelu(tanh: false), [randomTensor([2], seed: 1)]),
                                                  (.quickGelu, [randomTensor([2], seed: 1)]), (.sigmoid, [randomTensor([2], seed: 1)])])
        let feeds = ["x": randomTensor([3, 7], seed: 21, -4, 4)]
        for original in (0..<4).map(geluGraph) {
            var fused = original
            _ = GeluFusion.run(&fused)
            try PassReferenceExecutor.assertSameOutputs(original, fused, feeds, rtol: 1e-5, atol: 1e-6)
        }
        let q = quickGeluGraph(swapped: true)
        var fused = q
        _ = QuickGeluFusion.run(&fused)
        try PassReferenceExecutor.assertSameOutputs(q, fused, feeds, rtol: 1e-5, atol: 1e-6)
    }

    // MARK: Conv + BatchNorm, activations

    private func convBnReluGraph(convBias: Bool) -> Graph {
        let cout = 3
        var convInputs = ["x", "W"]
        if convBias { convInputs.append("cb") }
        return Graph(name: "cbr", inputs: [f32("x", [1, 2, 5, 5])], outputs: [f32("y", [1, cout, 5, 5])], nodes: [
            Node(name: "conv", op: .conv(ConvAttrs(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: convInputs, outputs: ["c"]),
            Node(name: "bn", op: .batchNorm(epsilon: 1e-5), inputs: ["c", "gamma", "beta", "mean", "var"], outputs: ["b"]),
            Node(name: "relu", op: .relu, inputs: ["b"], outputs: ["y"]),
        ], initializers: [
            "W": randomTensor([cout, 2, 3, 3], seed: 31), "cb": randomTensor([cout], seed: 32),
            "gamma": randomTensor([cout], seed: 33, 0.5, 2), "beta": randomTensor([cout], seed: 34),
            "mean": randomTensor([cout], seed: 35), "var": randomTensor([cout], seed: 36, 0.1, 2),
        ])
    }

    func testReluFusesIntoConvAndLinear() {
        var g = Graph(name: "act", inputs: [f32("x", [1, 2, 5, 5])], outputs: [f32("y", [1, 3, 5, 5]), f32("z", [4, 6])], nodes: [
            Node(name: "conv", op: .conv(ConvAttrs()), inputs: ["x", "W"], outputs: ["c"]),
            Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["y"]),
            Node(name: "lin", op: .linear(LinearAttrs(transB: true)), inputs: ["v", "W2"], outputs: ["l"]),
            Node(name: "gelu", op: .gelu(tanh: false), inputs: ["l"], outputs: ["z"]),
        ])
        XCTAssertEqual(ActivationFusion.run(&g).rewrites, 2)
        XCTAssertEqual(g.nodes.map(\.op), [.conv(ConvAttrs(activation: .relu)), .linear(LinearAttrs(transB: true, activation: .gelu))])
        XCTAssertEqual(g.nodes.map(\.outputs), [["y"], ["z"]])
    }

    func testReluStaysWhenPreActivationIsUsedElsewhere() {
        var g = Graph(name: "act", inputs: [f32("x", [1, 2, 5, 5])], outputs: [f32("y", [1, 3, 5, 5]), f32("c", [1, 3, 5, 5])], nodes: [
            Node(name: "conv", op: .conv(ConvAttrs()), inputs: ["x", "W"], outputs: ["c"]),
            Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["y"]),
        ])
        XCTAssertEqual(ActivationFusion.run(&g).rewrites, 0)
        var tanhGelu = Graph(name: "act", inputs: [f32("x", [4, 6])], outputs: [f32("z", [4, 6])], nodes: [
            Node(name: "lin", op: .linear(LinearAttrs()), inputs: ["x", "W"], outputs: ["l"]),
            Node(name: "g", op: .gelu(tanh: true), inputs: ["l"], outputs: ["z"]),
        ])
        XCTAssertEqual(ActivationFusion.run(&tanhGelu).rewrites, 0)
    }

    func testConvBatchNormReluNumerics() throws {
        let original = convBnReluGraph(convBias: true)
        try PassReferenceExecutor.requireKernels([(.conv(ConvAttrs()), [randomTensor([1, 1, 2, 2], seed: 1), randomTensor([1, 1, 1, 1], seed: 2)]),
                                                  (.batchNorm(epsilon: 1e-5), [randomTensor([1, 1, 2, 2], seed: 1), scalar1(), scalar1(), scalar1(), scalar1()]),
                                                  (.add, [scalar(1), scalar(2)]), (.sqrt, [scalar(2)]), (.div, [scalar(1), scalar(2)]),
                                                  (.mul, [scalar(1), scalar(2)]), (.sub, [scalar(1), scalar(2)])])
        for original in [original, convBnReluGraph(convBias: false)] {
            var fused = original
            XCTAssertEqual(try ConvBatchNormFusion.run(&fused).rewrites, 1)
            _ = ActivationFusion.run(&fused)
            XCTAssertEqual(opNames(fused), ["Conv"])
            XCTAssertEqual(fused.nodes[0].op, .conv(ConvAttrs(kernelShape: [3, 3], pads: [1, 1, 1, 1], activation: .relu)))
            _ = DeadCodeElimination.run(&fused)
            XCTAssertEqual(fused.initializers.count, 2)
            try PassReferenceExecutor.assertSameOutputs(original, fused, ["x": randomTensor([1, 2, 5, 5], seed: 37)], rtol: 1e-4, atol: 1e-5)
        }
    }

    private func scalar1() -> Tensor { .float32([1], shape: [1]) }
}
