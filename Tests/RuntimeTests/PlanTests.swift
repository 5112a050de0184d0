import Runtime
import TestSupport
import XCTest

final class PlanTests: XCTestCase {
    /// y = reshape(relu(x) + b, [N * 4]) where the target shape is computed from Shape(x).
    private func sampleGraph() -> Graph {
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.symbol("N"), .fixed(4)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        g.initializers["b"] = .float32([1, 2, 3, 4], shape: [4])
        g.initializers["minus1"] = .int64([-1], shape: [1])
        g.nodes = [
            Node(name: "relu", op: .relu, inputs: ["x"], outputs: ["r"]),
            Node(name: "add", op: .add, inputs: ["r", "b"], outputs: ["s"]),
            Node(name: "shape", op: .shape(start: 0, end: nil), inputs: ["x"], outputs: ["xs"]),
            Node(name: "count", op: .reduce(.prod, ReduceAttrs(axes: [0], keepDims: true)), inputs: ["xs"], outputs: ["n"]),
            Node(name: "reshape", op: .reshape(allowZero: false), inputs: ["s", "n"], outputs: ["y"]),
        ]
        return g
    }

    func testShapeSubgraphIsEvaluatedWhilePlanning() throws {
        let plan = try Plan(graph: sampleGraph(), inputShapes: ["x": [3, 4]])
        XCTAssertEqual(plan.symbols, ["N": 3])
        XCTAssertEqual(plan.foldedNodeCount, 2, "Shape and ReduceProd depend only on shapes")
        XCTAssertEqual(plan.steps.count, 3)
        XCTAssertEqual(plan.type(of: "y"), TypedShape(.float32, [12]))
    }

    func testRunMatchesHandComputationForSeveralN() throws {
        let runner = ModelRunner(model: Model(graphs: [sampleGraph()]), threads: 1)
        for n in [1, 3, 5] {
            var rng = SeededRandom(seed: UInt64(n))
            let x = rng.floats(n * 4)
            let out = try runner.run(graph: "main", inputs: ["x": .float32(x, shape: [n, 4])])
            let expected = x.enumerated().map { max($0.element, 0) + Float($0.offset % 4 + 1) }
            XCTAssertEqual(out["y"]?.shape, [n * 4])
            assertClose(out["y"]!.scalars(as: Float.self), expected)
        }
    }

    func testArenaIsReusedAlongAChain() throws {
        var g = Graph(name: "chain")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1000)])]
        var prev = "x"
        for i in 0..<10 {
            g.nodes.append(Node(name: "n\(i)", op: .neg, inputs: [prev], outputs: ["v\(i)"]))
            prev = "v\(i)"
        }
        g.outputs = [ValueInfo(name: prev, dtype: .float32, shape: nil)]
        let plan = try Plan(graph: g, inputShapes: ["x": [1000]])
        // Two live buffers suffice for a chain; ten would mean no reuse.
        XCTAssertLessThanOrEqual(plan.arenaBytes, 2 * 4032)
        let x = (0..<1000).map { Float($0) }
        let y = try Session(plan: plan, threads: 1).run(["x": .float32(x, shape: [1000])])
        XCTAssertEqual(y[prev]!.scalars(as: Float.self), x)   // ten negations
    }

    func testLiveValuesNeverShareBytes() throws {
        // d = (x + 1) * (x + 2) + (x + 3): three temporaries alive together.
        var g = Graph(name: "g")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(257)])]
        for k in 1...3 { g.initializers["c\(k)"] = .float32([Float(k)], shape: [1]) }
        g.nodes = [
            Node(name: "a1", op: .add, inputs: ["x", "c1"], outputs: ["t1"]),
            Node(name: "a2", op: .add, inputs: ["x", "c2"], outputs: ["t2"]),
            Node(name: "a3", op: .add, inputs: ["x", "c3"], outputs: ["t3"]),
            Node(name: "m", op: .mul, inputs: ["t1", "t2"], outputs: ["p"]),
            Node(name: "s", op: .add, inputs: ["p", "t3"], outputs: ["d"]),
        ]
        g.outputs = [ValueInfo(name: "d", dtype: .float32, shape: nil)]
        let x = (0..<257).map { Float($0) * 0.01 }
        let out = try ModelRunner(model: Model(graphs: [g]), threads: 1).run(graph: "g", inputs: ["x": .float32(x, shape: [257])])
        assertClose(out["d"]!.scalars(as: Float.self), x.map { ($0 + 1) * ($0 + 2) + ($0 + 3) })
    }

    func testInputShapeErrorsNameTheInput() {
        let g = sampleGraph()
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [3, 5]])) { e in
            XCTAssertTrue("\(e)".contains("input 'x'"), "\(e)")
        }
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [3]]))
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: [:])) { e in XCTAssertTrue("\(e)".contains("no shape given"), "\(e)") }
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [3, 4], "z": [1]])) { e in XCTAssertTrue("\(e)".contains("'z'"), "\(e)") }
    }

    func testSymbolBoundTwiceMustAgree() {
        var g = Graph(name: "g")
        g.inputs = [ValueInfo(name: "a", dtype: .float32, shape: [.symbol("N")]),
                    ValueInfo(name: "b", dtype: .float32, shape: [.symbol("N")])]
        g.nodes = [Node(name: "add", op: .add, inputs: ["a", "b"], outputs: ["c"])]
        g.outputs = [ValueInfo(name: "c", dtype: .float32, shape: nil)]
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["a": [2], "b": [3]])) { e in
            XCTAssertTrue("\(e)".contains("dimension N"), "\(e)")
        }
    }

    func testLinkedGraphsRunInOrder() throws {
        var text = Graph(name: "text")
        text.inputs = [ValueInfo(name: "t", dtype: .float32, shape: [.fixed(2)])]
        text.nodes = [Node(name: "neg", op: .neg, inputs: ["t"], outputs: ["features"])]
        text.outputs = [ValueInfo(name: "features", dtype: .float32, shape: nil)]
        var image = Graph(name: "image")
        image.inputs = [ValueInfo(name: "img", dtype: .float32, shape: [.fixed(2)]),
                        ValueInfo(name: "text_features", dtype: .float32, shape: [.fixed(2)])]
        image.nodes = [Node(name: "mul", op: .mul, inputs: ["img", "text_features"], outputs: ["logits"])]
        image.outputs = [ValueInfo(name: "logits", dtype: .float32, shape: nil)]
        var meta = Metadata()
        meta.links = [GraphLink(fromGraph: "text", fromOutput: "features", toGraph: "image", toInput: "text_features")]
        let runner = ModelRunner(model: Model(metadata: meta, graphs: [image, text]), threads: 1)
        XCTAssertEqual(runner.graphOrder, ["text", "image"])
        XCTAssertEqual(Set(runner.externalInputs.map(\.name)), ["t", "img"])
        let out = try runner.runAll(inputs: ["t": .float32([1, 2], shape: [2]), "img": .float32([3, 4], shape: [2])])
        XCTAssertEqual(Array(out.keys), ["logits"])
        XCTAssertEqual(out["logits"]!.scalars(as: Float.self), [-3, -8])
    }
}
