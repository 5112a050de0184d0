@testable import Convert
import Runtime
import TestSupport
import XCTest

/// The whole pipeline on a small transformer-like block with the export's quirks: Identity for
/// a duplicated weight, decomposed LayerNorm, MatMul + Add, the Erf GELU, a Reshape whose
/// target comes from Shape arithmetic around the symbolic label count N.
final class PassPipelineTests: XCTestCase {
    private func block() -> Graph {
        let c = 8
        return Graph(name: "block", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.symbol("N"), .fixed(4), .fixed(c)])],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: [.symbol("N"), .symbol("out_dim_1")])], nodes: [
            Node(name: "m1", op: .reduce(.mean, ReduceAttrs(axes: [-1])), inputs: ["x"], outputs: ["m"]),
            Node(name: "sub", op: .sub, inputs: ["x", "m"], outputs: ["d"]),
            Node(name: "pow", op: .pow, inputs: ["d", "two"], outputs: ["p"]),
            Node(name: "m2", op: .reduce(.mean, ReduceAttrs(axes: [-1])), inputs: ["p"], outputs: ["v"]),
            Node(name: "addeps", op: .add, inputs: ["v", "eps"], outputs: ["e"]),
            Node(name: "sqrt", op: .sqrt, inputs: ["e"], outputs: ["s"]),
            Node(name: "div", op: .div, inputs: ["d", "s"], outputs: ["n"]),
            Node(name: "mulg", op: .mul, inputs: ["n", "gamma"], outputs: ["gn"]),
            Node(name: "addb", op: .add, inputs: ["gn", "beta"], outputs: ["ln"]),
            Node(name: "wid", op: .identity, inputs: ["W"], outputs: ["W_copy"]),
            Node(name: "mm", op: .matMul, inputs: ["ln", "W_copy"], outputs: ["h0"]),
            Node(name: "bias", op: .add, inputs: ["h0", "b"], outputs: ["h"]),
            Node(name: "gdiv", op: .div, inputs: ["h", "sqrt2"], outputs: ["t"]),
            Node(name: "erf", op: .erf, inputs: ["t"], outputs: ["er"]),
            Node(name: "plus1", op: .add, inputs: ["er", "one"], outputs: ["a"]),
            Node(name: "gm1", op: .mul, inputs: ["h", "a"], outputs: ["ha"]),
            Node(name: "gm2", op: .mul, inputs: ["ha", "half"], outputs: ["act"]),
            Node(name: "shape", op: .shape(start: 0, end: nil), inputs: ["act"], outputs: ["sh"]),
            Node(name: "g0", op: .gather(axis: 0), inputs: ["sh", "i0"], outputs: ["nn"]),
            Node(name: "un", op: .unsqueeze, inputs: ["nn", "axis0"], outputs: ["n1"]),
            Node(name: "cat", op: .concat(axis: 0), inputs: ["n1", "minus1"], outputs: ["target"]),
            Node(name: "flatten", op: .reshape(allowZero: false), inputs: ["act", "target"], outputs: ["flat"]),
            Node(name: "out", op: .identity, inputs: ["flat"], outputs: ["y"]),
        ], initializers: [
            "two": scalar(2), "eps": scalar(1e-5), "gamma": randomTensor([c], seed: 1, 0.5, 1.5), "beta": randomTensor([c], seed: 2),
            "W": randomTensor([c, 6], seed: 3), "b": randomTensor([6], seed: 4), "sqrt2": scalar(1.4142135),
            "one": scalar(1), "half": scalar(0.5), "i0": .int64([0], shape: []), "axis0": .int64([0], shape: [1]),
            "minus1": .int64([-1], shape: [1]), "half_again": scalar(0.5),
        ])
    }

    func testPipelineFusesAndKeepsSymbolicShapeChain() throws {
        try PassReferenceExecutor.requireKernels([
            (.layerNorm(axis: 1, epsilon: 1e-5), [randomTensor([2, 4], seed: 1), randomTensor([4], seed: 2), randomTensor([4], seed: 3)]),
            (.reduce(.mean, ReduceAttrs(axes: [-1])), [randomTensor([2, 4], seed: 1)]), (.pow, [scalar(2), scalar(2)]),
            (.erf, [scalar(1)]), (.gelu(tanh: false), [scalar(1)]), (.matMul, [randomTensor([2, 4], seed: 1), randomTensor([4, 5], seed: 2)]),
            (.linear(LinearAttrs(activation: .gelu)), [randomTensor([2, 4], seed: 1), randomTensor([4, 5], seed: 2), randomTensor([5], seed: 3)]),
            (.gather(axis: 0), [.int64([4, 5], shape: [2]), .int64([0], shape: [])]),
            (.unsqueeze, [.int64([4], shape: []), .int64([0], shape: [1])]), (.concat(axis: 0), [.int64([4], shape: [1]), .int64([4], shape: [1])]),
            (.reshape(allowZero: false), [scalar(1), .int64([1], shape: [1])]),
        ])
        let original = block()
        var g = original
        let report = try Pipeline.optimize(&g)
        XCTAssertEqual(report.nodesBefore, 23)
        XCTAssertEqual(opNames(g), ["LayerNormalization", "Linear", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape"])
        XCTAssertEqual(g.nodes[1].op, .linear(LinearAttrs(transB: false, activation: .gelu)))
        XCTAssertEqual(g.outputs[0].name, "y")
        XCTAssertEqual(g.outputs[0].shape, [.symbol("N"), .fixed(24)])
        XCTAssertNil(g.initializers["half_again"])
        XCTAssertEqual(report.unknownShapes, [])
        for n in [1, 3] {
            try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([n, 4, 8], seed: UInt64(10 + n), -2, 2)],
                                                        rtol: 1e-4, atol: 1e-5)
        }
    }

    func testPipelineWithoutKernelsStillFusesStructurally() throws {
        // Shape inference notes the failures and goes on; fusions that need no inferred shapes still apply.
        var g = block()
        let report = try Pipeline.optimize(&g)
        XCTAssertTrue(opNames(g).contains("LayerNormalization"))
        XCTAssertFalse(opNames(g).contains("Identity"))
        XCTAssertLessThan(report.nodesAfter, report.nodesBefore)
        XCTAssertEqual(g.outputs.map(\.name), ["y"])
        XCTAssertNoThrow(try TopologicalSort.run(&g))
    }
}
