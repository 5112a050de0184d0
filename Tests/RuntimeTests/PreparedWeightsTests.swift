import Foundation
import Testing
@testable import Runtime
import TestSupport

@Suite struct PreparedWeightsTests {
    @Test func fillsOncePerWeightAndKind() throws {
        let prepared = PreparedWeights()
        let a = TensorStorage(byteCount: 16), b = TensorStorage(byteCount: 16)
        var fills = 0
        func get(_ w: TensorStorage, _ kind: String) -> UnsafeRawPointer {
            prepared.layout(kind: kind, of: w.pointer, byteCount: 8) { p in
                fills += 1
                p.storeBytes(of: UInt64(fills), as: UInt64.self)
            }
        }
        let p1 = get(a, "x"), p2 = get(a, "x"), p3 = get(b, "x"), p4 = get(a, "y")
        #expect(p1 == p2)
        #expect(p1 != p3 && p1 != p4)
        #expect(fills == 3)
        #expect(p1.load(as: UInt64.self) == 1)
        #expect(prepared.byteCount == 24)
    }

    @Test func concurrentCallersShareOneLayout() throws {
        let prepared = PreparedWeights()
        let w = TensorStorage(byteCount: 64)
        let addresses = UnsafeMutablePointer<UInt>.allocate(capacity: 8)
        defer { addresses.deallocate() }
        nonisolated(unsafe) let out = addresses
        nonisolated(unsafe) let weight = UnsafeRawPointer(w.pointer)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let p = prepared.layout(kind: "k", of: weight, byteCount: 32) { _ in }
            out[i] = UInt(bitPattern: p)
        }
        #expect(Set((0..<8).map { addresses[$0] }).count == 1)
        #expect(prepared.byteCount == 32)
    }
}

/// A weight computed at run time (a graph input here) is never served from the prepared store:
/// its address holds new values on the next run.
@Suite struct PreparedWeightsRuntimeWeightTests {
    @Test func winogradConvWithRuntimeWeightFollowsTheWeight() throws {
        var g = Graph(name: "main")
        // 16 -> 16 channels, 24x24 output (36 tiles): the Winograd path is chosen.
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(16), .fixed(24), .fixed(24)]),
                    ValueInfo(name: "w", dtype: .float32, shape: [.fixed(16), .fixed(16), .fixed(3), .fixed(3)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        let attrs = ConvAttrs(pads: [1, 1, 1, 1])
        g.nodes = [Node(name: "conv", op: .conv(attrs), inputs: ["x", "w"], outputs: ["y"])]
        let plan = try Plan(graph: g, inputShapes: ["x": [1, 16, 24, 24], "w": [16, 16, 3, 3]])
        let prepared = PreparedWeights()
        let session = Session(plan: plan, threads: 2, prepared: prepared)
        var rng = SeededRandom(seed: 5)
        let x = Tensor.float32(rng.floats(16 * 576), shape: [1, 16, 24, 24])
        // One buffer whose contents change between runs, as an arena slot's would.
        let w = Tensor.float32(rng.floats(16 * 144), shape: [16, 16, 3, 3])
        for round in 0..<2 {
            let values = rng.floats(16 * 144)
            w.data.assumingMemoryBound(to: Float.self).update(from: values, count: values.count)
            let got = try session.run(["x": x, "w": w])["y"]!.scalars(as: Float.self)
            let want = try Eval.evaluate(.conv(attrs), [x, w])[0].scalars(as: Float.self)
            let err = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(err < 1e-4, "round \(round): max error \(err)")
        }
        #expect(prepared.byteCount == 0, "nothing prepared for a run-time weight")
    }
}

/// Only the graph's initializers are prepared: a weight folded while planning (here a Cast of an
/// initializer) lives only as long as its plan, and another plan could later hold a different
/// weight at the same address.
@Suite struct PreparedWeightsPlanConstantTests {
    private func run(castWeight: Bool) throws -> (prepared: Int, error: Float) {
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(16), .fixed(24), .fixed(24)])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        var rng = SeededRandom(seed: 9)
        let w = Tensor.float32(rng.floats(16 * 144), shape: [16, 16, 3, 3])
        g.initializers["w"] = w
        let attrs = ConvAttrs(pads: [1, 1, 1, 1])
        if castWeight {
            g.nodes = [Node(name: "cast", op: .cast(to: .float32), inputs: ["w"], outputs: ["wf"]),
                       Node(name: "conv", op: .conv(attrs), inputs: ["x", "wf"], outputs: ["y"])]
        } else {
            g.nodes = [Node(name: "conv", op: .conv(attrs), inputs: ["x", "w"], outputs: ["y"])]
        }
        let plan = try Plan(graph: g, inputShapes: ["x": [1, 16, 24, 24]])
        let prepared = PreparedWeights()
        let x = Tensor.float32(rng.floats(16 * 576), shape: [1, 16, 24, 24])
        let got = try Session(plan: plan, threads: 2, prepared: prepared).run(["x": x])["y"]!.scalars(as: Float.self)
        let want = try Eval.evaluate(.conv(attrs), [x, w])[0].scalars(as: Float.self)
        return (prepared.byteCount, zip(got, want).map { abs($0 - $1) }.max()!)
    }

    @Test func initializerWeightIsPrepared() throws {
        let r = try run(castWeight: false)
        #expect(r.prepared > 0)
        #expect(r.error < 1e-4)
    }

    @Test func weightFoldedWhilePlanningIsNotPrepared() throws {
        let r = try run(castWeight: true)
        #expect(r.prepared == 0)
        #expect(r.error < 1e-4)
    }
}

/// A model's weight-only nodes (here float16 weights cast to float32, as in an fp16 pack) are
/// evaluated once per model by ModelRunner: the result is an initializer of the graph it plans,
/// so it is prepared once and shared by every plan, instead of one copy and one transform per run.
@Suite struct ModelRunnerWeightFoldingTests {
    private func castModel(seed: UInt64) -> (Model, Tensor) {
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(16), .symbol("h"), .symbol("w")])]
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: nil)]
        var rng = SeededRandom(seed: seed)
        let w32 = Tensor.float32(rng.floats(16 * 144), shape: [16, 16, 3, 3])
        let w16 = try! Eval.evaluate(.cast(to: .float16), [w32])[0]
        g.initializers["w"] = w16
        g.nodes = [Node(name: "cast", op: .cast(to: .float32), inputs: ["w"], outputs: ["wf"]),
                   Node(name: "conv", op: .conv(ConvAttrs(pads: [1, 1, 1, 1])), inputs: ["x", "wf"], outputs: ["y"])]
        return (Model(graphs: [g]), try! Eval.evaluate(.cast(to: .float32), [w16])[0])
    }

    @Test func castWeightIsFoldedOnceAndPrepared() throws {
        let (model, wf) = castModel(seed: 11)
        let runner = ModelRunner(model: model, threads: 2)
        var rng = SeededRandom(seed: 12)
        var preparedAfterFirst = 0
        // Two input sizes: two plans (both Winograd: at least 32 tiles), one prepared filter set.
        for (round, side) in [24, 28, 24].enumerated() {
            let x = Tensor.float32(rng.floats(16 * side * side), shape: [1, 16, side, side])
            let got = try runner.run(graph: "main", inputs: ["x": x])["y"]!.scalars(as: Float.self)
            let want = try Eval.evaluate(.conv(ConvAttrs(pads: [1, 1, 1, 1])), [x, wf])[0].scalars(as: Float.self)
            let err = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(err < 1e-4, "round \(round): max error \(err)")
            if round == 0 { preparedAfterFirst = runner.prepared.byteCount }
        }
        #expect(preparedAfterFirst > 0, "the cast weight is prepared")
        #expect(runner.prepared.byteCount == preparedAfterFirst, "one prepared copy for every plan")
    }

    @Test func foldingLeavesGraphOutputsAndOverridableInitializersAlone() throws {
        var g = Graph(name: "main")
        g.inputs = [ValueInfo(name: "bias", dtype: .float32, shape: [.fixed(2)])]   // initializer as default input
        g.outputs = [ValueInfo(name: "scaled", dtype: .float32, shape: nil), ValueInfo(name: "sum", dtype: .float32, shape: nil)]
        g.initializers["a"] = .float32([1, 2], shape: [2])
        g.initializers["bias"] = .float32([10, 20], shape: [2])
        g.nodes = [Node(name: "neg", op: .neg, inputs: ["a"], outputs: ["negated"]),
                   Node(name: "scale", op: .mul, inputs: ["negated", "a"], outputs: ["scaled"]),
                   Node(name: "sum", op: .add, inputs: ["a", "bias"], outputs: ["sum"])]
        let f = ModelRunner.foldingWeightNodes(g)
        #expect(f.nodes.map(\.name) == ["scale", "sum"], "only the weight-only node that feeds no output folds")
        #expect(f.initializers["negated"]?.scalars(as: Float.self) == [-1, -2])
        let out = try ModelRunner(model: Model(graphs: [g]), threads: 1).run(graph: "main", inputs: ["bias": .float32([100, 200], shape: [2])])
        #expect(out["scaled"]?.scalars(as: Float.self) == [-1, -4])
        #expect(out["sum"]?.scalars(as: Float.self) == [101, 202])
    }
}
