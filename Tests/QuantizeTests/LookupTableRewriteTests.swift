import XCTest
import Foundation
@testable import Runtime
import TestSupport
@testable import Quantize

/// Narrow (fp16 / int8) lookup tables are gathered narrow and only the gathered rows widened:
/// the same floats as widening the whole table first, and the table is left to Gathers alone
/// (so the pack keeps it raw and mapped).
final class LookupTableRewriteTests: XCTestCase {
    private func run(_ g: Graph, ids: [Int64], idShape: [Int]) throws -> [Float] {
        let plan = try Plan(graph: g, inputShapes: ["ids": idShape])
        let out = try Session(plan: plan, threads: 2).run(["ids": Tensor(dtype: .int64, shape: idShape, scalars: ids)])
        return out["y"]!.scalars(as: Float.self)
    }

    private func tableGraph(_ widen: Op, table: Tensor, scale: Tensor?) -> Graph {
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "ids", dtype: .int64, shape: [.symbol("N"), .fixed(3)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        g.initializers["t"] = table
        var widenInputs = ["t"]
        if let scale { g.initializers["s"] = scale; widenInputs.append("s") }
        // Two Gathers read the widened table (CLIP reads it once; any number must work).
        g.nodes = [Node(name: "widen", op: widen, inputs: widenInputs, outputs: ["wide"]),
                   Node(name: "g1", op: .gather(axis: 0), inputs: ["wide", "ids"], outputs: ["a"]),
                   Node(name: "g2", op: .gather(axis: 0), inputs: ["wide", "ids"], outputs: ["b"]),
                   Node(name: "sum", op: .add, inputs: ["a", "b"], outputs: ["y"])]
        return g
    }

    func testNarrowGatherGivesTheSameFloats() throws {
        var rng = SeededRandom(seed: 7)
        let v = 300, d = 24
        let q = (0..<(v * d)).map { _ in Int8(truncatingIfNeeded: Int(rng.floats(1, -127, 127)[0].rounded())) }
        let rowScales = rng.floats(v, 0.001, 0.05)
        let half = Float16Conversion.toHalf(rng.floats(v * d, -3, 3))
        let cases: [(String, Op, Tensor, Tensor?)] = [
            ("int8, per-row scales", .dequantizeLinear(axis: 0), Tensor(dtype: .int8, shape: [v, d], scalars: q), .float32(rowScales, shape: [v])),
            ("int8, one scale", .dequantizeLinear(axis: 0), Tensor(dtype: .int8, shape: [v, d], scalars: q), .float32([0.0123], shape: [])),
            ("int8 vector table", .dequantizeLinear(axis: 0), Tensor(dtype: .int8, shape: [v * d], scalars: q), .float32(rng.floats(v * d, 0.001, 0.05), shape: [v * d])),
            ("fp16", .cast(to: .float32), Tensor(dtype: .float16, shape: [v, d], scalars: half), nil),
        ]
        let ids: [Int64] = [0, 299, 17, 5, 5, 123]
        for (name, op, table, scale) in cases {
            let before = tableGraph(op, table: table, scale: scale)
            var after = before
            XCTAssertEqual(LookupTableRewrite.apply(&after), ["t"], name)
            // Nothing widens the whole table any more; only Gathers read it.
            XCTAssertFalse(after.nodes.contains { $0.inputs.first == "t" && $0.op != .gather(axis: 0) }, name)
            XCTAssertFalse(after.nodes.contains { $0.outputs.contains("wide") }, name)
            let ranks = after.initializers.mapValues(\.rank)
            XCTAssertTrue(Graph.lookupTables(nodes: after.nodes, outputs: after.outputs, ranks: ranks).contains("t"), name)
            // The Gathers' outputs keep their names (the rest of the graph is untouched).
            XCTAssertTrue(after.nodes.contains { $0.name == "g1" && $0.outputs == ["a"] }, name)
            let expected = try run(before, ids: ids, idShape: [2, 3]), got = try run(after, ids: ids, idShape: [2, 3])
            XCTAssertEqual(got.count, expected.count, name)
            XCTAssertTrue(zip(got, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(name): outputs differ")
            XCTAssertTrue(got.contains { $0 != 0 }, name)
        }
    }

    /// Left alone: a table some other node reads widened, or a widened table that is a graph output.
    func testTablesReadOtherwiseStayWidened() throws {
        let table = Tensor(dtype: .float16, shape: [8, 4], scalars: Float16Conversion.toHalf((0..<32).map(Float.init)))
        var g = tableGraph(.cast(to: .float32), table: table, scale: nil)
        g.nodes.append(Node(name: "other", op: .relu, inputs: ["wide"], outputs: ["r"]))
        XCTAssertEqual(LookupTableRewrite.apply(&g), [])
        var h = tableGraph(.cast(to: .float32), table: table, scale: nil)
        h.outputs.append(ValueInfo(name: "wide", dtype: .float32, shape: nil))
        XCTAssertEqual(LookupTableRewrite.apply(&h), [])
    }

    /// lseg-quantize applies it: the tiny model's token table stays fp16 / int8 behind a Gather,
    /// and the logits are the ones the pack had before the rewrite.
    func testQuantizerGathersTheTokenTableNarrow() throws {
        let fp32 = try QuantizeFixtures.model("models/tiny/lseg.onnx")
        for mode in [QuantizeMode.fp16, .int8Weights] {
            let (m, _) = try Quantizer.quantize(fp32, images: [], options: { var o = QuantizeOptions(); o.mode = mode; return o }())
            let text = m.graph(named: "text")!
            let narrow = text.nodes.filter { $0.op == .gather(axis: 0) }.compactMap { n -> String? in
                guard let t = text.initializers[n.inputs[0]], t.dtype == .float16 || t.dtype == .int8 else { return nil }
                return n.inputs[0]
            }
            XCTAssertFalse(narrow.isEmpty, "\(mode): no Gather reads a narrow table")
            var unrewritten = fp32
            for i in unrewritten.graphs.indices {
                if mode == .fp16 { Float16Rewrite.apply(&unrewritten.graphs[i]) } else { Int8WeightsRewrite.apply(&unrewritten.graphs[i]) }
            }
            let expected = try QuantizeFixtures.logits(unrewritten), got = try QuantizeFixtures.logits(m)
            XCTAssertTrue(zip(got, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(mode): logits differ")
        }
    }
}
