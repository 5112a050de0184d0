@testable import Convert
import Runtime
import TestSupport
import XCTest

/// PointwiseConvFolding: two 1x1 convs in a row become one with W2 W1 and W2 b1 + b2.
final class PointwiseConvFoldingTests: XCTestCase {
    /// x [1, c0, 5, 7] -> conv (c0 -> c1) -> conv (c1 -> c2) -> y.
    private func graph(_ c0: Int = 6, _ c1: Int = 4, _ c2: Int = 5, first: ConvAttrs = ConvAttrs(),
                       second: ConvAttrs = ConvAttrs(), secondKernel: Int = 1, firstBias: Bool = true) -> Graph {
        var g = Graph(name: "pw", inputs: [f32("x", [1, c0, 5, 7])], outputs: [f32("y", [1, c2, 5, 7])], nodes: [
            Node(name: "a", op: .conv(first), inputs: ["x", "W1", firstBias ? "b1" : ""], outputs: ["u"]),
            Node(name: "b", op: .conv(second), inputs: ["u", "W2", "b2"], outputs: ["y"]),
        ], initializers: ["W1": randomTensor([c1, c0, 1, 1], seed: 21), "b1": randomTensor([c1], seed: 22),
                          "W2": randomTensor([c2, c1, secondKernel, secondKernel], seed: 23), "b2": randomTensor([c2], seed: 24)])
        if second.residual {
            g.inputs.append(f32("r", [1, c2, 5, 7]))
            g.nodes[1].inputs.append("r")
        }
        return g
    }

    func testFoldsAndComputesTheSame() throws {
        let cases: [(String, Graph)] = [
            ("plain", graph()),
            ("no first bias", graph(firstBias: false)),
            ("second's activation stays", graph(second: ConvAttrs(activation: .relu))),
            ("second's residual stays", graph(second: ConvAttrs(residual: true))),
            ("widening, like out_conv then head1", graph(8, 8, 16)),
        ]
        for (what, original) in cases {
            var g = original
            XCTAssertEqual(PointwiseConvFolding.run(&g).rewrites, 1, what)
            XCTAssertEqual(opNames(g), ["Conv"], what)
            XCTAssertEqual(g.nodes[0].name, "b", what)
            XCTAssertEqual(g.nodes[0].inputs[0], "x", what)
            XCTAssertEqual(g.nodes[0].outputs, ["y"], what)
            XCTAssertEqual(g.nodes[0].op, original.nodes[1].op, what)
            let c0 = original.inputs[0].shape![1].value!, c2 = original.outputs[0].shape![1].value!
            XCTAssertEqual(g.initializers[g.nodes[0].inputs[1]]?.shape, [c2, c0, 1, 1], what)
            var feeds = ["x": randomTensor([1, c0, 5, 7], seed: 25)]
            if original.inputs.count > 1 { feeds["r"] = randomTensor([1, c2, 5, 7], seed: 26) }
            try PassReferenceExecutor.assertSameOutputs(original, g, feeds)
        }
    }

    func testFoldedValuesMatchTheProduct() {
        // W1 = [[1, 2], [3, 4], [5, 6]] (c1 3, c0 2), b1 = [1, 0, -1]; W2 = [[1, 0, 2]], b2 = [0.5].
        let (w, b) = PointwiseConvFolding.fold(w1: [1, 2, 3, 4, 5, 6], b1: [1, 0, -1], w2: [1, 0, 2], b2: [0.5], c0: 2, c1: 3, c2: 1)
        XCTAssertEqual(w, [11, 14])
        XCTAssertEqual(b, [-0.5])
    }

    func testLeftAloneWhenFoldingWouldChangeTheResultOrCostMore() {
        let cases: [(String, Graph)] = [
            ("bottleneck 16 -> 2 -> 16 (the folded weight is larger)", graph(16, 2, 16)),
            ("activation between", graph(first: ConvAttrs(activation: .relu))),
            ("pre-activation between", graph(second: ConvAttrs(preActivation: .relu))),
            ("3x3 second", graph(second: ConvAttrs(pads: [1, 1, 1, 1]), secondKernel: 3)),
            ("strided second", graph(second: ConvAttrs(strides: [2, 2]))),
        ]
        for (what, original) in cases {
            var g = original
            XCTAssertEqual(PointwiseConvFolding.run(&g).rewrites, 0, what)
            XCTAssertEqual(g.nodes, original.nodes, what)
        }
        // The intermediate is also a graph output.
        var shared = graph()
        shared.outputs.append(f32("u", [1, 4, 5, 7]))
        XCTAssertEqual(PointwiseConvFolding.run(&shared).rewrites, 0)
    }
}
