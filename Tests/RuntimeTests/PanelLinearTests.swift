import CKernels
@testable import Runtime
import TestSupport
import XCTest

/// fp32 Linear on panel-packed weights: the AVX-512 tile against the scalar reference (bits), a
/// double-precision product (error bound), rows computed alone (causal truncation needs a row's
/// outputs independent of the others), the fused epilogue against lseg_bias_activation after
/// the product; and the load-time rewrite: what it packs, what it leaves, that a model someone
/// else still holds is not touched, and that a bad panel shape is refused.
final class PanelLinearTests: XCTestCase {
    private struct Case {
        var m: Int, k: Int, n: Int, transB: Bool
    }

    /// y = x W (+ bias, activation) through the C entry points; `fast` picks the tile.
    private func run(_ x: [Float], _ w: [Float], _ c: Case, bias: [Float]?, act: Int32, fast: Bool, ldy: Int) -> [Float] {
        var panels = [Float](repeating: .nan, count: Int(lseg_panel_weight_floats(c.k, c.n)))
        let panelCount = (c.n + 31) / 32
        lseg_panel_pack_weights(w, c.transB ? 1 : 0, c.k, c.n, 0, panelCount, &panels)
        var rows = [Float](repeating: .nan, count: max(1, Int(lseg_panel_row_floats(c.m, c.k))))
        lseg_panel_pack_rows(x, c.m, c.k, 0, (c.m + 13) / 14, &rows)
        var y = [Float](repeating: 12345, count: c.m * ldy)
        // Two calls over split panel ranges, as two work items would.
        let split = panelCount / 2
        for (p0, p1) in [(0, split), (split, panelCount)] {
            lseg_panel_linear(fast ? 1 : 0, rows, c.m, c.k, panels, c.n, p0, p1, &y, ldy, bias, act, 0)
        }
        return y
    }

    private func reference(_ x: [Float], _ w: [Float], _ c: Case, row r: Int, col j: Int) -> (value: Double, scale: Double) {
        var sum = 0.0, scale = 0.0
        for p in 0..<c.k {
            let wv = Double(c.transB ? w[j * c.k + p] : w[p * c.n + j])
            sum += Double(x[r * c.k + p]) * wv
            scale += abs(Double(x[r * c.k + p]) * wv)
        }
        return (sum, scale)
    }

    /// Nil when equal bit for bit, else the first differing index and values.
    private func firstDifference(_ a: [Float], _ b: [Float]) -> String? {
        guard a.count == b.count else { return "counts \(a.count) vs \(b.count)" }
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
        return "index \(i): \(a[i]) vs \(b[i])"
    }

    private let cases = [
        Case(m: 1, k: 1, n: 1, transB: false), Case(m: 13, k: 5, n: 31, transB: true), Case(m: 14, k: 64, n: 32, transB: false),
        Case(m: 15, k: 1030, n: 33, transB: true), Case(m: 29, k: 2100, n: 100, transB: false),
        Case(m: 145, k: 96, n: 70, transB: false), Case(m: 3, k: 0, n: 40, transB: false),
    ]

    func testFastTileGivesTheScalarBitsAndStaysWithinTheBound() {
        var rng = SeededRandom(seed: 0x9A1)
        for c in cases {
            let x = rng.floats(c.m * c.k), w = rng.floats(c.k * c.n), bias = rng.floats(c.n)
            let ldy = c.n + 3
            for (b, act) in [(nil, LSEG_ACT_NONE), (bias, LSEG_ACT_NONE), (bias, LSEG_ACT_GELU), (nil, LSEG_ACT_RELU)] as [([Float]?, Int)] {
                let fast = run(x, w, c, bias: b, act: Int32(act), fast: true, ldy: ldy)
                let scalar = run(x, w, c, bias: b, act: Int32(act), fast: false, ldy: ldy)
                XCTAssertNil(firstDifference(fast, scalar), "\(c) act \(act) bias \(b != nil)")
                for r in 0..<c.m {
                    for j in c.n..<ldy { XCTAssertEqual(fast[r * ldy + j], 12345, "\(c): gap at row \(r) column \(j) written") }
                }
                guard act == LSEG_ACT_NONE, b == nil else { continue }
                for r in 0..<c.m {
                    for j in 0..<c.n {
                        let (value, scale) = reference(x, w, c, row: r, col: j)
                        // One rounding per multiply-add, k of them: k * 2^-24 of the absolute sum.
                        let bound = Double(max(c.k, 1)) * 0x1p-24 * scale + 1e-30
                        XCTAssertLessThanOrEqual(abs(Double(fast[r * ldy + j]) - value), bound, "\(c) row \(r) column \(j)")
                    }
                }
            }
        }
    }

    /// Tile t, depth p, lane r holds x[14 t + r][p], zero past the last row: whole tiles go
    /// through the AVX-512 transpose in 16-step blocks, the rest through the scalar loop.
    func testPackedRowsHoldTheRowsTileByTile() {
        var rng = SeededRandom(seed: 0x9A7)
        for (m, k) in [(30, 37), (14, 16), (28, 100), (5, 3)] {
            let x = rng.floats(m * k)
            let tiles = (m + 13) / 14
            var packed = [Float](repeating: .nan, count: Int(lseg_panel_row_floats(m, k)))
            lseg_panel_pack_rows(x, m, k, 0, tiles, &packed)
            for t in 0..<tiles {
                for p in 0..<k {
                    for r in 0..<14 {
                        let row = t * 14 + r
                        XCTAssertEqual(packed[(t * k + p) * 14 + r], row < m ? x[row * k + p] : 0, "m \(m) k \(k) tile \(t) depth \(p) lane \(r)")
                    }
                }
            }
        }
    }

    func testARowComputedAloneGetsTheSameBits() {
        var rng = SeededRandom(seed: 0x9A2)
        let c = Case(m: 40, k: 1100, n: 96, transB: false)
        let x = rng.floats(c.m * c.k), w = rng.floats(c.k * c.n), bias = rng.floats(c.n)
        let all = run(x, w, c, bias: bias, act: Int32(LSEG_ACT_GELU), fast: true, ldy: c.n)
        for r in [0, 13, 14, 27, 39] {
            let one = run(Array(x[r * c.k..<(r + 1) * c.k]), w, Case(m: 1, k: c.k, n: c.n, transB: false), bias: bias,
                          act: Int32(LSEG_ACT_GELU), fast: true, ldy: c.n)
            XCTAssertNil(firstDifference(one, Array(all[r * c.n..<(r + 1) * c.n])), "row \(r)")
        }
    }

    func testFusedEpilogueEqualsBiasActivationAfterTheProduct() {
        var rng = SeededRandom(seed: 0x9A3)
        for c in [Case(m: 30, k: 1500, n: 77, transB: true), Case(m: 16, k: 64, n: 64, transB: false)] {
            let x = rng.floats(c.m * c.k, -3, 3), w = rng.floats(c.k * c.n), bias = rng.floats(c.n)
            for act in [LSEG_ACT_GELU, LSEG_ACT_RELU, LSEG_ACT_QUICKGELU] {
                let fused = run(x, w, c, bias: bias, act: Int32(act), fast: true, ldy: c.n)
                var after = run(x, w, c, bias: nil, act: Int32(LSEG_ACT_NONE), fast: true, ldy: c.n)
                lseg_bias_activation(&after, Int64(c.m), Int64(c.n), Int64(c.n), bias, nil, Int32(act), 0)
                XCTAssertNil(firstDifference(fused, after), "\(c) act \(act)")
            }
        }
    }

    // MARK: the rewrite

    /// x [5, 96] -> Linear(w1 [96, 128], b1, GELU) -> Linear(w2 [160, 128] transB) -> y1;
    /// w3 [96, 64] read by a Linear and a MatMul (kept); w4 [96, 48] (N under the minimum, kept);
    /// w5 [128, 64] shared by two Linears (packed once).
    private func graph(_ rng: inout SeededRandom) -> Graph {
        var g = Graph(name: "g")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(5), .fixed(96)])]
        g.outputs = ["y1", "y2", "y3", "y4", "y5"].map { ValueInfo(name: $0, dtype: .float32, shape: nil) }
        g.initializers["w1"] = .float32(rng.floats(96 * 128), shape: [96, 128])
        g.initializers["b1"] = .float32(rng.floats(128), shape: [128])
        g.initializers["w2"] = .float32(rng.floats(160 * 128), shape: [160, 128])
        g.initializers["w3"] = .float32(rng.floats(96 * 64), shape: [96, 64])
        g.initializers["w4"] = .float32(rng.floats(96 * 48), shape: [96, 48])
        g.initializers["w5"] = .float32(rng.floats(128 * 64), shape: [128, 64])
        g.nodes = [
            Node(name: "l1", op: .linear(LinearAttrs(activation: .gelu)), inputs: ["x", "w1", "b1"], outputs: ["h"]),
            Node(name: "l2", op: .linear(LinearAttrs(transB: true)), inputs: ["h", "w2"], outputs: ["y1"]),
            Node(name: "l3", op: .linear(LinearAttrs()), inputs: ["x", "w3"], outputs: ["y2"]),
            Node(name: "m3", op: .matMul, inputs: ["x", "w3"], outputs: ["y3"]),
            Node(name: "l4", op: .linear(LinearAttrs()), inputs: ["x", "w4"], outputs: ["y4"]),
            Node(name: "l5a", op: .linear(LinearAttrs()), inputs: ["h", "w5"], outputs: ["h5"]),
            Node(name: "l5b", op: .linear(LinearAttrs(activation: .relu)), inputs: ["h", "w5"], outputs: ["h5b"]),
            Node(name: "add5", op: .add, inputs: ["h5", "h5b"], outputs: ["y5"]),
        ]
        return g
    }

    private func outputs(_ g: Graph, _ x: Tensor) throws -> [String: Tensor] {
        try Session(plan: try Plan(graph: g, inputShapes: ["x": x.shape]), threads: 2).run(["x": x])
    }

    func testRewritePacksOnlyWeightsEveryReaderTakesAsALinearWeight() throws {
        var rng = SeededRandom(seed: 0x9A4)
        let g = graph(&rng)
        let x = Tensor.float32(rng.floats(5 * 96), shape: [5, 96])
        let before = try outputs(g, x)
        var model = Model(graphs: [g])
        PanelLinearRewrite.apply(&model, threads: 2, force: true)
        let packed = model.graphs[0]
        func attrs(_ node: String) -> LinearAttrs? {
            guard case .linear(let a) = packed.nodes.first(where: { $0.name == node })!.op else { return nil }
            return a
        }
        XCTAssertEqual(attrs("l1")?.weightPanels, 128)
        XCTAssertEqual(attrs("l2")?.weightPanels, 160)
        XCTAssertEqual(attrs("l2")?.transB, false)
        XCTAssertEqual(attrs("l5a")?.weightPanels, 64)
        XCTAssertEqual(attrs("l5b")?.weightPanels, 64)
        XCTAssertNil(attrs("l3")?.weightPanels, "w3 is also read by a MatMul")
        XCTAssertNil(attrs("l4")?.weightPanels, "N = 48 is under the minimum")
        XCTAssertEqual(packed.initializers["w1"]?.shape, [4, 96, 32])
        XCTAssertEqual(packed.initializers["w2"]?.shape, [5, 128, 32])
        XCTAssertEqual(packed.initializers["w3"]?.shape, [96, 64])
        let after = try outputs(packed, x)
        for name in ["y1", "y2", "y3", "y4", "y5"] {
            assertClose(after[name]!, before[name]!, rtol: 1e-5, atol: 1e-5)
        }
    }

    /// A model the caller still holds keeps its stored layout (the rewrite packs a new buffer);
    /// a model held only by the rewrite is re-laid out in its own buffers.
    func testRewriteLeavesAModelSomeoneElseHoldsUntouched() throws {
        var rng = SeededRandom(seed: 0x9A5)
        let original = Model(graphs: [graph(&rng)])
        let w1 = original.graphs[0].initializers["w1"]!.scalars(as: Float.self)
        var copy = original
        PanelLinearRewrite.apply(&copy, threads: 1, force: true)
        XCTAssertEqual(original.graphs[0].initializers["w1"]!.scalars(as: Float.self), w1)
        XCTAssertEqual(original.graphs[0].initializers["w1"]!.shape, [96, 128])
        XCTAssertEqual(copy.graphs[0].initializers["w1"]!.shape, [4, 96, 32])

        var sole = Model(graphs: [graph(&rng)])
        let address = sole.graphs[0].initializers["w1"]!.data
        let stored = sole.graphs[0].initializers["w1"]!.scalars(as: Float.self)
        PanelLinearRewrite.apply(&sole, threads: 1, force: true)
        XCTAssertEqual(sole.graphs[0].initializers["w1"]!.data, address, "re-laid out in place")
        // Panel pn, depth p, column j holds w1[p][32 pn + j].
        let packed = sole.graphs[0].initializers["w1"]!.scalars(as: Float.self)
        for (pn, p, j) in [(0, 0, 0), (1, 2, 3), (3, 95, 31)] {
            XCTAssertEqual(packed[(pn * 96 + p) * 32 + j], stored[p * 128 + pn * 32 + j])
        }
    }

    func testModelRunnerRunsThePackedGraphLikeTheStoredOne() throws {
        var rng = SeededRandom(seed: 0x9A6)
        let g = graph(&rng)
        let x = Tensor.float32(rng.floats(5 * 96), shape: [5, 96])
        let plain = try ModelRunner(model: Model(graphs: [g]), threads: 2, packLinearWeights: false).run(graph: "g", inputs: ["x": x])
        let runner = ModelRunner(model: Model(graphs: [g]), threads: 2)
        let packed = try runner.run(graph: "g", inputs: ["x": x])
        if PanelLinearKernels.fast {
            guard case .linear(let a) = runner.model.graphs[0].nodes[0].op else { return XCTFail("l1 is not a Linear") }
            XCTAssertEqual(a.weightPanels, 128, "packed on an AVX-512 machine")
        }
        for name in ["y1", "y2", "y3", "y4", "y5"] { assertClose(packed[name]!, plain[name]!, rtol: 1e-5, atol: 1e-5) }
    }

    func testBadPanelShapeIsRefusedNamingTheWeight() {
        var g = Graph(name: "g")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(2), .fixed(8)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        // 70 columns need 3 panels of 32, not 2.
        g.initializers["w"] = .float32([Float](repeating: 0, count: 2 * 8 * 32), shape: [2, 8, 32])
        g.nodes = [Node(name: "l", op: .linear(LinearAttrs(weightPanels: 70)), inputs: ["x", "w"], outputs: ["y"])]
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [2, 8]])) { error in
            XCTAssertTrue("\(error)".contains("panels of 70 columns"), "\(error)")
        }
        // A width no panel count can hold is refused the same way, without overflowing.
        g.nodes[0].op = .linear(LinearAttrs(weightPanels: Int.max))
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [2, 8]])) { error in
            XCTAssertTrue("\(error)".contains("panels of \(Int.max) columns"), "\(error)")
        }
    }
}
