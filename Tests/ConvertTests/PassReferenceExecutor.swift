import Foundation
@testable import Convert
import Runtime
import TestSupport
import XCTest

/// A tiny reference executor for pass tests: evaluates nodes in order with `Eval.evaluate`,
/// the runtime's own kernels, so fused and unfused graphs can be compared numerically.
enum PassReferenceExecutor {
    static func run(_ g: Graph, _ feeds: [String: Tensor]) throws -> [String: Tensor] {
        var env = g.initializers
        for (k, v) in feeds { env[k] = v }
        for n in g.nodes {
            let inputs: [Tensor?] = try n.inputs.map { name in
                if name.isEmpty { return nil }
                guard let t = env[name] else { throw PassError.badNode(node: n.name, op: n.op.typeName, what: "missing \(name)") }
                return t
            }
            let outs = try Eval.evaluate(n.op, inputs, node: n.name)
            for (k, o) in n.outputs.enumerated() where !o.isEmpty && k < outs.count { env[o] = outs[k] }
        }
        return Dictionary(uniqueKeysWithValues: g.outputs.map { ($0.name, env[$0.name]!) })
    }

    /// Fails the calling test early, naming the op, when a kernel it relies on cannot run.
    static func requireKernels(_ probes: [(Op, [Tensor?])]) throws {
        for (op, inputs) in probes { _ = try Eval.evaluate(op, inputs) }
    }

    /// Runs both graphs on the same feeds and compares every output.
    static func assertSameOutputs(_ a: Graph, _ b: Graph, _ feeds: [String: Tensor], rtol: Float = 1e-5, atol: Float = 1e-6,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let ra = try run(a, feeds), rb = try run(b, feeds)
        for o in a.outputs {
            guard let x = ra[o.name], let y = rb[o.name] else { XCTFail("output \(o.name) missing", file: file, line: line); continue }
            assertClose(y, x, rtol: rtol, atol: atol, o.name, file: file, line: line)
        }
    }
}

func scalar(_ v: Float) -> Tensor { .float32([v], shape: []) }

func randomTensor(_ shape: [Int], seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
    var r = SeededRandom(seed: seed)
    return .float32(r.floats(Tensor.elementCount(shape), lo, hi), shape: shape)
}

func opNames(_ g: Graph) -> [String] { g.nodes.map(\.op.typeName) }
