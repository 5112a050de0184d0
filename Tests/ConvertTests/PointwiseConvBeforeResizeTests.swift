@testable import Convert
import Runtime
import TestSupport
import XCTest

/// PointwiseConvBeforeResize: a 1x1 Conv after a 2x upsampling moves in front of it, computing
/// the same outputs at a quarter of the positions.
final class PointwiseConvBeforeResizeTests: XCTestCase {
    private func graph(resize: ResizeAttrs = ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners),
                       conv: ConvAttrs = ConvAttrs(), kernel: Int = 1, scales: [Float] = [1, 1, 2, 2]) -> Graph {
        Graph(name: "up", inputs: [f32("x", [1, 6, 5, 7])], outputs: [f32("y", [1, 4, 10, 14])], nodes: [
            Node(name: "up", op: .resize(resize), inputs: ["x", "", "scales"], outputs: ["u"]),
            Node(name: "proj", op: .conv(conv), inputs: ["u", "W", "b"], outputs: ["y"]),
        ], initializers: ["W": randomTensor([4, 6, kernel, kernel], seed: 11), "b": randomTensor([4], seed: 12),
                          "scales": .float32(scales, shape: [4])])
    }

    func testConvMovesBeforeResizeAndComputesTheSame() throws {
        for resize in [ResizeAttrs(mode: .linear, coordinateTransformation: .alignCorners),
                       ResizeAttrs(mode: .linear, coordinateTransformation: .halfPixel),
                       ResizeAttrs(mode: .nearest, coordinateTransformation: .asymmetric, nearestMode: .floor)] {
            let original = graph(resize: resize)
            var g = original
            XCTAssertEqual(PointwiseConvBeforeResize.run(&g).rewrites, 1)
            XCTAssertEqual(opNames(g), ["Conv", "Resize"])
            XCTAssertEqual(g.nodes[0].inputs, ["x", "W", "b"])
            XCTAssertEqual(g.nodes[1].inputs[0], g.nodes[0].outputs[0])
            XCTAssertEqual(g.nodes[1].outputs, ["y"])
            XCTAssertNotEqual(g.nodes[0].outputs[0], "u")
            let feeds = ["x": randomTensor([1, 6, 5, 7], seed: 13)]
            try PassReferenceExecutor.assertSameOutputs(original, g, feeds)
        }
    }

    func testLeftAloneWhenTheRewriteWouldChangeTheResult() {
        let cases: [(String, Graph)] = [
            ("3x3 kernel", graph(conv: ConvAttrs(pads: [1, 1, 1, 1]), kernel: 3)),
            ("fused activation", graph(conv: ConvAttrs(activation: .relu))),
            ("strided", graph(conv: ConvAttrs(strides: [2, 2]))),
            ("cubic resize", graph(resize: ResizeAttrs(mode: .cubic))),
            ("crop and resize", graph(resize: ResizeAttrs(mode: .linear, coordinateTransformation: .tfCropAndResize))),
            ("channel scale", graph(scales: [1, 2, 2, 2])),
        ]
        for (what, original) in cases {
            var g = original
            XCTAssertEqual(PointwiseConvBeforeResize.run(&g).rewrites, 0, what)
            XCTAssertEqual(g.nodes, original.nodes, what)
        }
        // The upsampled value is also read elsewhere (here: a graph output).
        var shared = graph()
        shared.outputs.append(f32("u", [1, 6, 10, 14]))
        XCTAssertEqual(PointwiseConvBeforeResize.run(&shared).rewrites, 0)
    }

    func testChainOfPointwiseConvsMovesAcrossInTheFullPipeline() throws {
        // Resize -> Conv1x1 -> Conv1x1 (DPT's out_conv then LSeg's head1): both end up before it,
        // where PointwiseConvFolding makes them one.
        var g = graph()
        g.outputs = [f32("z", [1, 3, 10, 14])]
        g.nodes.append(Node(name: "head", op: .conv(ConvAttrs()), inputs: ["y", "W2", ""], outputs: ["z"]))
        g.initializers["W2"] = randomTensor([3, 4, 1, 1], seed: 14)
        let original = g
        _ = try Pipeline.optimize(&g)
        XCTAssertEqual(opNames(g), ["Conv", "Resize"])
        try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([1, 6, 5, 7], seed: 15)])
    }
}
