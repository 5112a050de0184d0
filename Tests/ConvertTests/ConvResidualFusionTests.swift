@testable import Convert
import Runtime
import TestSupport
import XCTest

/// ConvResidualFusion: DPT's residual unit (Relu -> Conv -> Relu -> Conv -> Add(x)) becomes two
/// convolutions, the first reading x through a fused ReLU, the second adding x itself.
final class ConvResidualFusionTests: XCTestCase {
    private func residualUnit(channels c: Int = 8, size: Int = 10) -> Graph {
        let pads = ConvAttrs(pads: [1, 1, 1, 1])
        return Graph(name: "rcu", inputs: [f32("x", [1, c, size, size])], outputs: [f32("y", [1, c, size, size])], nodes: [
            Node(name: "act0", op: .relu, inputs: ["x"], outputs: ["a0"]),
            Node(name: "conv1", op: .conv(pads), inputs: ["a0", "W1", "b1"], outputs: ["c1"]),
            Node(name: "act1", op: .relu, inputs: ["c1"], outputs: ["a1"]),
            Node(name: "conv2", op: .conv(pads), inputs: ["a1", "W2", "b2"], outputs: ["c2"]),
            Node(name: "skip", op: .add, inputs: ["c2", "x"], outputs: ["y"]),
        ], initializers: ["W1": randomTensor([c, c, 3, 3], seed: 1), "b1": randomTensor([c], seed: 2),
                          "W2": randomTensor([c, c, 3, 3], seed: 3), "b2": randomTensor([c], seed: 4)])
    }

    func testResidualUnitBecomesTwoFusedConvsWithTheSameOutputs() throws {
        // 8 channels at 10x10 run im2col; 16 at 24x24 run Winograd (fused in its transforms).
        for (c, size) in [(8, 10), (16, 24)] {
            let original = residualUnit(channels: c, size: size)
            var g = original
            _ = try Pipeline.optimize(&g)
            XCTAssertEqual(opNames(g), ["Conv", "Conv"])
            guard case .conv(let a1) = g.nodes[0].op, case .conv(let a2) = g.nodes[1].op else { return XCTFail("not convs") }
            XCTAssertEqual(a1.preActivation, .relu)
            XCTAssertEqual(a1.activation, .relu)
            XCTAssertFalse(a1.residual)
            XCTAssertEqual(g.nodes[0].inputs[0], "x")
            XCTAssertEqual(a2.preActivation, .none)
            XCTAssertTrue(a2.residual)
            XCTAssertEqual(g.nodes[1].inputs.count, 4)
            XCTAssertEqual(g.nodes[1].inputs[3], "x")
            XCTAssertEqual(g.nodes[1].outputs, ["y"])
            try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([1, c, size, size], seed: 5)],
                                                        rtol: 1e-5, atol: 1e-5)
        }
    }

    func testConvWithoutBiasGetsAnEmptyBiasSlot() throws {
        var g = residualUnit()
        g.nodes[3].inputs = ["a1", "W2"]
        let original = g
        _ = try ShapeInference.run(&g)
        _ = ActivationFusion.run(&g)
        XCTAssertEqual(ConvResidualFusion.run(&g).rewrites, 2)
        let conv2 = try XCTUnwrap(g.nodes.first { $0.name == "conv2" })
        XCTAssertEqual(conv2.inputs, ["a1", "W2", "", "x"])
        try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([1, 8, 10, 10], seed: 6)])
    }

    func testLeftAloneWhenFusingWouldChangeTheResult() throws {
        // A broadcast operand: the Add's output is not the conv's shape.
        var broadcast = residualUnit()
        broadcast.initializers["bias4d"] = randomTensor([1, 8, 1, 1], seed: 7)
        broadcast.nodes[4].inputs = ["c2", "bias4d"]
        // The conv already applies an activation: it would come before the sum.
        var activated = residualUnit()
        activated.nodes[3].op = .conv(ConvAttrs(pads: [1, 1, 1, 1], activation: .relu))
        // The ReLU'd value is read twice (here also a graph output); the conv output too.
        var sharedRelu = residualUnit()
        sharedRelu.outputs.append(f32("a0", [1, 8, 10, 10]))
        var sharedConv = residualUnit()
        sharedConv.outputs.append(f32("c2", [1, 8, 10, 10]))
        for (what, original, expected) in [("broadcast", broadcast, 1), ("activated", activated, 1),
                                           ("shared relu", sharedRelu, 1), ("shared conv", sharedConv, 1)] {
            var g = original
            _ = try ShapeInference.run(&g)
            _ = ActivationFusion.run(&g)   // as the pipeline does first: act1 becomes conv1's activation
            XCTAssertEqual(ConvResidualFusion.run(&g).rewrites, expected, what)
            try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([1, 8, 10, 10], seed: 8)])
        }
        // Neither: an Add of the conv's output with itself.
        var doubled = residualUnit()
        doubled.nodes[4].inputs = ["c2", "c2"]
        doubled.nodes.remove(at: 0)
        doubled.nodes[0].inputs[0] = "x"
        _ = try ShapeInference.run(&doubled)
        _ = ActivationFusion.run(&doubled)
        XCTAssertEqual(ConvResidualFusion.run(&doubled).rewrites, 0)
    }

    func testPointwiseConvStillMovesBeforeItsResize() throws {
        // DPT's out_conv after the 2x upsampling, its output added to the next block's branch:
        // running it at the low resolution (4x less work) beats fusing the Add.
        let g0 = Graph(name: "up", inputs: [f32("x", [1, 6, 5, 7]), f32("skip", [1, 4, 10, 14])],
                       outputs: [f32("y", [1, 4, 10, 14])], nodes: [
            Node(name: "up", op: .resize(ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners)),
                 inputs: ["x", "", "scales"], outputs: ["u"]),
            Node(name: "out_conv", op: .conv(ConvAttrs()), inputs: ["u", "W", "b"], outputs: ["c"]),
            Node(name: "add", op: .add, inputs: ["c", "skip"], outputs: ["y"]),
        ], initializers: ["W": randomTensor([4, 6, 1, 1], seed: 9), "b": randomTensor([4], seed: 10),
                          "scales": .float32([1, 1, 2, 2], shape: [4])])
        var g = g0
        _ = try Pipeline.optimize(&g)
        XCTAssertEqual(opNames(g), ["Conv", "Resize", "Add"])
        try PassReferenceExecutor.assertSameOutputs(g0, g, ["x": randomTensor([1, 6, 5, 7], seed: 11),
                                                            "skip": randomTensor([1, 4, 10, 14], seed: 12)])
    }
}
