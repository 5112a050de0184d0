import Foundation
import Runtime

/// Lets a CLIP-style text tower run only up to the longest row's end token.
///
/// With a causal attention mask (0 on and below the diagonal, -inf above, added to the scores
/// before a last-axis Softmax) and pooling at the first maximum of the token ids (ArgMax), the
/// pooled output reads no position after the end token. The pass proves the pattern on the
/// imported graph, rewrites it so the sequence length is taken from the token input's shape
/// (Slices of the positional embedding and masks, Reshape targets built from that length),
/// optimizes it, and then checks the result:
/// - plans for several lengths succeed and give the full run's output shapes;
/// - on probe tokens (random ids, end tokens at a few positions, random ids after them) the
///   rewritten graph at full length matches the original graph, and runs cut to the longest end
///   token match the full-length run bit for bit.
/// Only then is the rewrite kept and a `SequenceTruncation` returned for the pack metadata; the
/// graph still declares the full length, so every existing caller keeps working. Otherwise the
/// original graph is optimized as usual and nothing is recorded.
public enum CausalTruncation {
    public struct Outcome: Sendable {
        public var report: Pipeline.Report
        public var truncation: SequenceTruncation?
        /// Why the graph was not made truncatable (nil when it was, or when it has no token input).
        public var refusal: String?
    }

    /// Optimizes `g` with the pipeline, made truncatable when the pattern is proven.
    public static func optimize(_ g: inout Graph, options: Pipeline.Options = Pipeline.Options()) throws -> Outcome {
        let original = g
        let attempt = rewrite(g)
        guard case .rewritten(var candidate, let record) = attempt else {
            var report = try Pipeline.optimize(&g, options: options)
            if case .refused(let why) = attempt {
                report.passes.append(stats(g, applied: false, note: "not truncatable: \(why)"))
                return Outcome(report: report, truncation: nil, refusal: why)
            }
            return Outcome(report: report, truncation: nil, refusal: nil)
        }
        var optimizedOriginal = original
        var report0 = try Pipeline.optimize(&optimizedOriginal, options: options)
        let problem: String
        do {
            var report = try Pipeline.optimize(&candidate, options: options)
            restoreDeclaredLength(&candidate, record)
            if let failed = verify(truncatable: candidate, original: optimizedOriginal, record) {
                problem = failed
            } else {
                g = candidate
                report.passes.append(stats(g, applied: true, note: "input '\(record.input)' axis \(record.axis) may be cut from \(record.fullLength) to the longest end token"))
                return Outcome(report: report, truncation: record, refusal: nil)
            }
        } catch {
            problem = "the graph with a symbolic sequence length could not be optimized: \(error)"
        }
        g = optimizedOriginal
        report0.passes.append(stats(g, applied: false, note: "not truncatable: \(problem)"))
        return Outcome(report: report0, truncation: nil, refusal: problem)
    }

    static func stats(_ g: Graph, applied: Bool, note: String) -> PassStats {
        PassStats(pass: "CausalTruncation", nodesBefore: g.nodes.count, nodesAfter: g.nodes.count, rewrites: applied ? 1 : 0, notes: [note])
    }

    enum Rewrite {
        case notApplicable
        case refused(String)
        case rewritten(Graph, SequenceTruncation)
    }

    static let lengthSymbol = ModelRunner.sequenceLengthSymbol

    /// The graph with its sequence axis symbolic, and the record; or why not.
    static func rewrite(_ g: Graph) -> Rewrite {
        let uses = GraphUses(g)
        // The token input: integer, read by an ArgMax (directly or through a Cast).
        var found: (input: Int, axis: Int, length: Int)?
        for (k, info) in g.inputs.enumerated() where info.dtype == .int64 || info.dtype == .int32 {
            guard let shape = info.shape else { continue }
            for c in uses.consumerNodes(of: info.name) {
                var argMax = g.nodes[c]
                if case .cast(let to) = argMax.op, [.int32, .int64, .float32].contains(to),
                   let next = uses.soleConsumer(of: argMax.outputs[0]) {
                    argMax = g.nodes[next]
                }
                guard case .argMax(let axis, _, let last) = argMax.op, !last else { continue }
                let a = axis < 0 ? axis + shape.count : axis
                guard a >= 0, a < shape.count, case .fixed(let n) = shape[a], n > 1 else { continue }
                found = (k, a, n)
            }
        }
        guard let (inputIndex, axis, length) = found else { return .notApplicable }
        let tokens = g.inputs[inputIndex].name

        // Every read of the tokens must be one we understand: embedding lookup, ArgMax (via Cast), Shape.
        var embedding: String?
        for c in uses.consumerNodes(of: tokens) {
            let n = g.nodes[c]
            switch n.op {
            case .gather(let gAxis) where gAxis == 0 && n.inputs.count == 2 && n.inputs[1] == tokens && g.initializers[n.inputs[0]] != nil:
                embedding = n.inputs[0]
            case .cast, .argMax, .shape:
                continue
            default:
                return .refused("token input '\(tokens)' is read by \(n.op.typeName) node '\(n.name)'")
            }
        }
        guard embedding != nil else { return .refused("no embedding Gather reads '\(tokens)'") }

        // Constants that mention the sequence length: causal masks, positional embeddings, Reshape targets.
        var masks: [String] = [], positional: [(String, Int)] = [], reshapeTargets: [(String, Int)] = []
        for (name, t) in g.initializers.sorted(by: { $0.key < $1.key }) {
            let readers = uses.consumerNodes(of: name).map { g.nodes[$0] }
            if readers.isEmpty { continue }
            if t.dtype.isFloat && t.shape.contains(length) {
                if isCausalMask(t, length) {
                    for r in readers {
                        guard case .add = r.op, let s = uses.soleConsumer(of: r.outputs[0]),
                              case .softmax(let sAxis) = g.nodes[s].op, sAxis == -1 else {
                            return .refused("causal mask '\(name)' is used other than added to scores before a last-axis Softmax")
                        }
                    }
                    masks.append(name)
                    continue
                }
                let seqAxes = t.shape.indices.filter { t.shape[$0] == length }
                guard seqAxes.count == 1, t.shape[..<seqAxes[0]].allSatisfy({ $0 == 1 }),
                      readers.allSatisfy({ if case .add = $0.op { return true }; return false }) else {
                    return .refused("constant '\(name)' \(t.shape) spans the sequence length but is neither a causal mask nor an added positional embedding")
                }
                positional.append((name, seqAxes[0]))
                continue
            }
            guard !t.dtype.isFloat, t.rank <= 1, t.count <= 16, let values = t.integers(), values.contains(length) else { continue }
            // An integer constant holding the length: only a Reshape target is understood.
            let inReshape = uses.consumers[name, default: []].allSatisfy { i in
                if case .reshape = g.nodes[i].op, g.nodes[i].inputs.count == 2, g.nodes[i].inputs[1] == name { return true }
                return false
            }
            guard inReshape, t.rank == 1, values.filter({ $0 == length }).count == 1 else {
                return .refused("integer constant '\(name)' holds \(length) outside a Reshape target")
            }
            reshapeTargets.append((name, values.firstIndex(of: length)!))
        }
        guard !masks.isEmpty else { return .refused("no causal mask over \(length) positions feeds a Softmax") }
        guard !positional.isEmpty else { return .refused("no positional embedding over \(length) positions") }

        // Rewrite: the length read from the input's shape replaces every constant mention of it.
        var out = g
        var prologue: [Node] = []
        var names = Set(g.initializers.keys).union(g.inputs.map(\.name)).union(g.nodes.flatMap(\.outputs))
        func fresh(_ base: String) -> String {
            var name = "causal_truncation/\(base)", k = 1
            while names.contains(name) { name = "causal_truncation/\(base)_\(k)"; k += 1 }
            names.insert(name)
            return name
        }
        func constant(_ base: String, _ values: [Int64]) -> String {
            let name = fresh(base)
            out.initializers[name] = .int64(values, shape: [values.count])
            return name
        }
        let len = fresh("length")
        prologue.append(Node(name: len, op: .shape(start: axis, end: axis + 1), inputs: [tokens], outputs: [len]))
        func sliced(_ name: String, axes: [Int]) {
            let t = g.initializers[name]!
            var ends = len
            if axes.count > 1 {
                ends = fresh("\(name)/ends")
                prologue.append(Node(name: ends, op: .concat(axis: 0), inputs: Array(repeating: len, count: axes.count), outputs: [ends]))
            }
            let starts = constant("\(name)/starts", Array(repeating: 0, count: axes.count))
            let axesName = constant("\(name)/axes", axes.map { Int64($0 < 0 ? $0 + t.rank : $0) })
            let result = fresh(name)
            prologue.append(Node(name: result, op: .slice, inputs: [name, starts, ends, axesName], outputs: [result]))
            // The prologue is not in `out.nodes` yet, so the Slice itself keeps reading the constant.
            out.replaceUses(of: name, with: result)
        }
        for m in masks { sliced(m, axes: [-2, -1]) }
        for (p, a) in positional { sliced(p, axes: [a]) }
        for (name, at) in reshapeTargets {
            let values = g.initializers[name]!.integers()!.map(Int64.init)
            var parts: [String] = []
            if at > 0 { parts.append(constant("\(name)/head", Array(values[..<at]))) }
            parts.append(len)
            if at + 1 < values.count { parts.append(constant("\(name)/tail", Array(values[(at + 1)...]))) }
            let result = fresh(name)
            prologue.append(Node(name: result, op: .concat(axis: 0), inputs: parts, outputs: [result]))
            out.replaceUses(of: name, with: result)
        }
        out.nodes = prologue + out.nodes
        var shape = g.inputs[inputIndex].shape!
        shape[axis] = .symbol(lengthSymbol)
        guard !g.inputs.contains(where: { $0.shape?.contains(.symbol(lengthSymbol)) ?? false }) else {
            return .refused("the graph already uses the symbol '\(lengthSymbol)'")
        }
        out.inputs[inputIndex].shape = shape
        // Inferred shapes mention the full length; the pipeline infers them again.
        out.valueInfo = [:]
        return .rewritten(out, SequenceTruncation(input: tokens, axis: axis, fullLength: length))
    }

    /// 0 on and below the diagonal, -inf (or below -1e30) above, over the last two axes; leading axes of 1.
    static func isCausalMask(_ t: Tensor, _ length: Int) -> Bool {
        guard t.dtype == .float32, t.rank >= 2, t.shape.suffix(2) == [length, length],
              t.shape.dropLast(2).allSatisfy({ $0 == 1 }) else { return false }
        let v = t.scalars(as: Float.self)
        for i in 0..<length {
            for j in 0..<length {
                let x = v[i * length + j]
                if j <= i ? x != 0 : !(x < -1e30) { return false }
            }
        }
        return true
    }

    /// The stored graph declares the full length, as the export did.
    static func restoreDeclaredLength(_ g: inout Graph, _ r: SequenceTruncation) {
        guard let k = g.inputs.firstIndex(where: { $0.name == r.input }), var shape = g.inputs[k].shape else { return }
        shape[r.axis] = .fixed(r.fullLength)
        g.inputs[k].shape = shape
        g.valueInfo[r.input] = g.inputs[k]
    }

    /// nil when the truncatable graph passes every check, else what failed.
    static func verify(truncatable t: Graph, original o: Graph, _ r: SequenceTruncation) -> String? {
        let variant = ModelRunner.withSymbolicLength(t, r)
        guard let info = t.inputs.first(where: { $0.name == r.input }), let declared = info.shape else { return "token input lost" }
        // Vocabulary size from the embedding lookup: probe ids stay in range.
        var vocabulary = 2
        for n in t.nodes where n.inputs.count == 2 && n.inputs[1] == r.input {
            if case .gather = n.op, let e = t.initializers[n.inputs[0]], e.rank >= 1 { vocabulary = e.shape[0] }
        }
        guard vocabulary >= 3 else { return "embedding too small to probe" }
        let full = r.fullLength
        let ends = [0, min(2, full - 1), min(5, full - 1)]
        let longest = ends.max()! + 1
        var state: UInt64 = 0x5EED
        func nextId() -> Int64 {   // ids below the end token (the largest id)
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int64((state >> 33) % UInt64(vocabulary - 2)) + 1
        }
        guard declared.count == 2, r.axis == 1, declared[1] == .fixed(full) else {
            return "only [N, length] token inputs are verified"
        }
        /// One row per end position: random ids everywhere (also after the end token), the
        /// largest id at the end position.
        func probe(_ endPositions: [Int]) -> Tensor {
            var ids = (0..<endPositions.count * full).map { _ in nextId() }
            for (row, p) in endPositions.enumerated() { ids[row * full + p] = Int64(vocabulary - 1) }
            let shape = [endPositions.count, full]
            return info.dtype == .int64 ? .int64(ids, shape: shape) : Tensor(dtype: .int32, shape: shape, scalars: ids.map { Int32($0) })
        }
        func run(_ g: Graph, _ x: Tensor) throws -> [String: Tensor] {
            let plan = try Plan(graph: g, inputShapes: [r.input: x.shape])
            return try Session(plan: plan, threads: ProcessInfo.processInfo.activeProcessorCount).run([r.input: x])
        }
        do {
            // Plans at several lengths, all with the full run's output shapes.
            let planAtFull = try Plan(graph: variant, inputShapes: [r.input: [2, full]])
            let shapesAtFull = planAtFull.outputIds.map { planAtFull.types[$0].shape }
            for s in Set([1, 2, min(7, full), full - 1]) {
                let p = try Plan(graph: variant, inputShapes: [r.input: [2, s]])
                guard p.outputIds.map({ p.types[$0].shape }) == shapesAtFull else {
                    return "output shapes change with the sequence length (\(s) vs \(full))"
                }
            }
            let x = probe(ends)
            let reference = try run(o, x)
            let fullRun = try run(variant, x)
            for (name, ref) in reference {
                guard let got = fullRun[name], got.shape == ref.shape else { return "output '\(name)' differs in shape" }
                let a = ref.scalars(as: Float.self), b = got.scalars(as: Float.self)
                let scale = a.reduce(Float(1)) { max($0, abs($1)) }
                for i in a.indices where !(abs(a[i] - b[i]) <= 1e-4 * scale) {
                    return "output '\(name)' of the rewritten graph differs from the original at full length (\(b[i]) vs \(a[i]))"
                }
            }
            for cut in Set([max(longest, 6), min(longest + 3, full)]) where cut < full {
                let short = try run(variant, ModelRunner.prefix(x, axis: r.axis, length: cut))
                for (name, f) in fullRun where !(short[name].map { $0.bitwiseEqual(f) } ?? false) {
                    return "output '\(name)' at length \(cut) is not bit-identical to the full-length run"
                }
            }
            // One label ending at once: the shortest run a runner makes.
            let first = probe([0])
            let shortest = min(ModelRunner.minimumTruncatedRows, full)
            let single = try run(variant, ModelRunner.prefix(first, axis: r.axis, length: shortest))
            let singleFull = try run(variant, first)
            for (name, f) in singleFull where !(single[name].map { $0.bitwiseEqual(f) } ?? false) {
                return "output '\(name)' at length \(shortest) is not bit-identical to the full-length run"
            }
        } catch {
            return "probe run failed: \(error)"
        }
        return nil
    }
}
