@testable import Convert
import Runtime
import TestSupport
import XCTest

/// Shape inference by probing, and constant folding of what it proves constant.
final class PassShapeInferenceTests: XCTestCase {
    func testProbesAreDistinctPerSymbolAndSpatialOnesDivisibleBy32() throws {
        let inputs = [
            ValueInfo(name: "tokens", dtype: .int64, shape: [.symbol("N"), .fixed(77)]),
            ValueInfo(name: "image", dtype: .float32, shape: [.symbol("B"), .fixed(3), .symbol("H"), .symbol("W")]),
        ]
        let p = try ShapeInference.deriveProbes(inputs, overrides: [:])
        XCTAssertEqual(Set(p.keys), ["N", "B", "H", "W"])
        XCTAssertEqual(Set(p.values.map { $0 }).count, 4, "every symbol needs its own pattern: \(p)")
        for s in ["H", "W"] { XCTAssertTrue(p[s]!.allSatisfy { $0 % 32 == 0 && $0 >= 64 }, "\(s): \(p[s]!)") }
        for values in p.values {
            XCTAssertEqual(Set(values).count, values.count, "a symbol's probes must differ: \(values)")
            XCTAssertFalse(values.contains(1))
        }
        let o = try ShapeInference.deriveProbes(inputs, overrides: ["H": [224, 256]])
        XCTAssertEqual(o["H"], [224, 256])
        XCTAssertEqual(o["N"]?.count, 2)
        XCTAssertThrowsError(try ShapeInference.deriveProbes(inputs, overrides: ["H": [224]]))
    }

    /// x [N, 77, 16] -> Reshape to [N, 77 * 16] with the shape computed from Shape(x).
    private func labelGraph() -> Graph {
        Graph(name: "text", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.symbol("N"), .fixed(77), .fixed(16)])],
              outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)], nodes: [
                Node(name: "shape", op: .shape(start: 0, end: nil), inputs: ["x"], outputs: ["s"]),
                Node(name: "g0", op: .gather(axis: 0), inputs: ["s", "i0"], outputs: ["n"]),
                Node(name: "g1", op: .gather(axis: 0), inputs: ["s", "i1"], outputs: ["seq"]),
                Node(name: "g2", op: .gather(axis: 0), inputs: ["s", "i2"], outputs: ["width"]),
                Node(name: "mul", op: .mul, inputs: ["seq", "width"], outputs: ["flat"]),
                Node(name: "un", op: .unsqueeze, inputs: ["n", "axis0"], outputs: ["n1"]),
                Node(name: "uf", op: .unsqueeze, inputs: ["flat", "axis0"], outputs: ["flat1"]),
                Node(name: "cat", op: .concat(axis: 0), inputs: ["n1", "flat1"], outputs: ["target"]),
                Node(name: "reshape", op: .reshape(allowZero: false), inputs: ["x", "target"], outputs: ["r"]),
                Node(name: "tr", op: .transpose(perm: [1, 0]), inputs: ["r"], outputs: ["y"]),
              ], initializers: [
                "i0": .int64([0], shape: []), "i1": .int64([1], shape: []), "i2": .int64([2], shape: []),
                "axis0": .int64([0], shape: [1]),
              ])
    }

    private func requireShapeKernels() throws {
        let s = Tensor.int64([4, 5], shape: [2])
        try PassReferenceExecutor.requireKernels([
            (.gather(axis: 0), [s, .int64([0], shape: [])]), (.mul, [s, s]), (.unsqueeze, [s, .int64([0], shape: [1])]),
            (.concat(axis: 0), [s, s]), (.reshape(allowZero: false), [s, .int64([2], shape: [1])]), (.transpose(perm: [0]), [s]),
        ])
        _ = try ShapeOnlyEvaluation.evaluateShape(.shape(start: 0, end: nil), dtype: .float32, shape: [2, 3], node: "probe")
    }

    func testSymbolicShapesAreNamedAfterInputSymbols() throws {
        try requireShapeKernels()
        var g = labelGraph()
        let r = try ShapeInference.run(&g, options: .init(strict: true))
        XCTAssertEqual(r.unknownValues, [])
        XCTAssertEqual(g.valueInfo["r"]?.shape, [.symbol("N"), .fixed(1232)])
        XCTAssertEqual(g.valueInfo["y"]?.shape, [.fixed(1232), .symbol("N")])
        XCTAssertEqual(g.valueInfo["s"]?.shape, [.fixed(3)])
        XCTAssertEqual(g.valueInfo["n"]?.dtype, .int64)
        XCTAssertEqual(g.outputs[0].shape, [.fixed(1232), .symbol("N")])
        // What does not depend on N is proven constant; what does is not.
        XCTAssertEqual(r.invariantValues["flat"]?.integers(), [1232])
        XCTAssertNil(r.invariantValues["n"])
        XCTAssertNil(r.invariantValues["target"])
        XCTAssertNil(r.invariantValues["s"])
    }

    func testFoldingKeepsTheSymbolicShapeChainAndFoldsTheRest() throws {
        try requireShapeKernels()
        var g = labelGraph()
        let r = try ShapeInference.run(&g)
        _ = try ConstantFolding.run(&g, knownValues: r.invariantValues)
        _ = DeadCodeElimination.run(&g)
        XCTAssertEqual(g.nodes.map(\.name), ["shape", "g0", "un", "cat", "reshape", "tr"])
        XCTAssertEqual(g.initializers["flat1"]?.integers(), [1232])
        // The folded graph still computes the right thing for an N that was not probed.
        let x = randomTensor([2, 77, 16], seed: 5)
        let out = try PassReferenceExecutor.run(g, ["x": x])["y"]!
        XCTAssertEqual(out.shape, [1232, 2])
    }

    func testDerivedSymbolicDimsGetNodeNamesSharedByEqualPatterns() throws {
        try requireShapeKernels()
        // z = Concat(x, x) along the symbolic axis: 2N is neither fixed nor N.
        var g = Graph(name: "g", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.symbol("N"), .fixed(4)])],
                      outputs: [ValueInfo(name: "w", dtype: .float32, shape: nil)], nodes: [
                        Node(name: "cat", op: .concat(axis: 0), inputs: ["x", "x"], outputs: ["z"]),
                        Node(name: "t", op: .transpose(perm: [1, 0]), inputs: ["z"], outputs: ["w"]),
                      ])
        _ = try ShapeInference.run(&g, options: .init(strict: true))
        XCTAssertEqual(g.valueInfo["z"]?.shape, [.symbol("cat_dim_0"), .fixed(4)])
        XCTAssertEqual(g.valueInfo["w"]?.shape, [.fixed(4), .symbol("cat_dim_0")])
    }

    func testStaticGraphFoldsCompletelyButBigExpandStays() throws {
        try requireShapeKernels()
        try PassReferenceExecutor.requireKernels([(.expand, [scalar(1), .int64([2, 2], shape: [2])]), (.add, [scalar(1), scalar(2)])])
        var g = Graph(name: "g", inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(2), .fixed(3)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil), ValueInfo(name: "big", dtype: .float32, shape: nil)], nodes: [
                        Node(name: "shape", op: .shape(start: 0, end: nil), inputs: ["x"], outputs: ["s"]),
                        Node(name: "reshape", op: .reshape(allowZero: false), inputs: ["x", "s"], outputs: ["r"]),
                        Node(name: "wsum", op: .add, inputs: ["a", "b"], outputs: ["ab"]),
                        Node(name: "add", op: .add, inputs: ["r", "ab"], outputs: ["y"]),
                        Node(name: "expand", op: .expand, inputs: ["one", "bigShape"], outputs: ["e"]),
                        Node(name: "use", op: .add, inputs: ["e", "one"], outputs: ["big"]),
                      ], initializers: [
                        "a": randomTensor([3], seed: 1), "b": randomTensor([3], seed: 2), "one": scalar(1),
                        "bigShape": .int64([2048, 1024], shape: [2]),
                      ])
        let original = g
        let r = try ShapeInference.run(&g)
        let s = try ConstantFolding.run(&g, knownValues: r.invariantValues)
        _ = DeadCodeElimination.run(&g)
        XCTAssertEqual(g.nodes.map(\.name), ["reshape", "add", "expand", "use"])
        XCTAssertEqual(g.initializers["s"]?.integers(), [2, 3])
        XCTAssertTrue(s.notes.contains { $0.contains("'expand'") }, "\(s.notes)")
        try PassReferenceExecutor.assertSameOutputs(original, g, ["x": randomTensor([2, 3], seed: 3)])
    }
}
