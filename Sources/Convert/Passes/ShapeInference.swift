import Runtime

/// Fills `Graph.valueInfo` with the dtype and shape of every node output, and updates the graph
/// outputs' declared types, using the ops' own `Op.inferOutputs`.
///
/// Symbolic input dimensions are handled by probing: every symbol is bound to a few different
/// concrete values and concrete inference runs through the graph once per probe, evaluating
/// small values (shape sub-graphs: Shape, Gather, Concat, Cast, ...) with the runtime's kernels so
/// that Reshape, Expand, Resize and the like see real shape tensors. A dimension equal in every
/// probe is fixed; one that varies is symbolic, named after the input symbol whose values it
/// matches in every probe (`N`), otherwise `<node>_dim_<k>` (one name per distinct pattern of
/// probe values, so equal derived dimensions share a name).
///
/// Values that were computed in every probe and came out identical are reported as
/// `invariantValues`: constant folding turns them into initializers (for example
/// `Gather(Shape(x), 1)` when only dimension 0 of x is symbolic).
public enum ShapeInference {
    public struct Options: Sendable {
        /// Probe values per symbol, overriding the derived ones; all lists must have equal length >= 2.
        public var probes: [String: [Int]] = [:]
        /// Values are evaluated during probing only when every output has at most this many elements.
        public var valueElementLimit = 4096
        /// Throw on the first node whose inference fails, instead of noting it and going on.
        public var strict = false
        public init(probes: [String: [Int]] = [:], valueElementLimit: Int = 4096, strict: Bool = false) {
            self.probes = probes; self.valueElementLimit = valueElementLimit; self.strict = strict
        }
    }

    public struct Result: Sendable {
        public var stats: PassStats
        /// Symbol -> the values it took in the probes.
        public var probes: [String: [Int]]
        /// Node outputs whose value was computed in every probe and equal in all of them.
        public var invariantValues: [String: Tensor]
        /// Node outputs whose shape could not be inferred.
        public var unknownValues: [String]
    }

    /// Image-like symbols (spatial axes of rank-4 inputs) take multiples of 32 so any patch size
    /// up to 32 divides them; others take small values. Each symbol's probe values are a rotation
    /// of the others', so no two symbols (and few derived dims) share a pattern; none is 1, so
    /// broadcasting and Squeeze see the general case.
    static func deriveProbes(_ inputs: [ValueInfo], overrides: [String: [Int]]) throws -> [String: [Int]] {
        var spatial: [String] = [], other: [String] = []
        var seen = Set<String>()
        for v in inputs {
            guard let shape = v.shape else { continue }
            for (axis, d) in shape.enumerated() {
                guard case .symbol(let s) = d, seen.insert(s).inserted else { continue }
                if shape.count == 4 && axis >= 2 { spatial.append(s) } else { other.append(s) }
            }
        }
        var probes: [String: [Int]] = [:]
        let spatialBase = [64, 128, 96], otherBase = [3, 7, 5]
        for (j, s) in spatial.enumerated() {
            probes[s] = (0..<3).map { spatialBase[($0 + j) % 3] + 160 * (j / 3) }
        }
        for (j, s) in other.enumerated() {
            probes[s] = (0..<3).map { otherBase[($0 + j) % 3] + 8 * (j / 3) }
        }
        if !overrides.isEmpty {
            let counts = Set(overrides.values.map(\.count))
            guard counts.count == 1, let c = counts.first, c >= 2 else {
                throw PassError.badOptions("probe lists must all have the same length, at least 2")
            }
            guard overrides.values.allSatisfy({ $0.allSatisfy { $0 > 0 } }) else {
                throw PassError.badOptions("probe values must be positive")
            }
            for (s, values) in overrides { probes[s] = values }
            // Symbols without an override get a list of the same length.
            for (s, values) in probes where overrides[s] == nil {
                probes[s] = (0..<c).map { values[$0 % values.count] + ($0 / values.count) * 2 }
            }
        }
        return probes
    }

    public static func run(_ g: inout Graph, options: Options = Options()) throws -> Result {
        let probes = try deriveProbes(g.inputs, overrides: options.probes)
        let probeCount = probes.values.first?.count ?? 1

        // One concrete inference per probe.
        var runs: [[String: ShapeInput]] = []
        var failures: [String: String] = [:]
        for p in 0..<probeCount {
            var env: [String: ShapeInput] = [:]
            for (name, t) in g.initializers { env[name] = ShapeInput(t) }
            for v in g.inputs {
                guard let shape = v.shape else { continue }
                var dims: [Int] = []
                for d in shape {
                    switch d {
                    case .fixed(let n): dims.append(n)
                    case .symbol(let s): dims.append(probes[s]![p])
                    }
                }
                env[v.name] = ShapeInput(dtype: v.dtype, shape: dims)
            }
            for n in g.nodes {
                do {
                    try infer(n, &env, valueLimit: options.valueElementLimit)
                } catch {
                    if options.strict { throw error }
                    if failures[n.name] == nil { failures[n.name] = "\(error)" }
                }
            }
            runs.append(env)
        }

        // Merge the probes into symbolic shapes.
        var symbolBySignature: [[Int]: String] = [:]
        for (s, values) in probes.sorted(by: { $0.key < $1.key }) { symbolBySignature[values] = s }
        var invariant: [String: Tensor] = [:]
        var unknown: [String] = []
        var notes: [String] = []
        var known = 0
        for n in g.nodes {
            for (k, o) in n.outputs.enumerated() where !o.isEmpty {
                let seen = runs.compactMap { $0[o] }
                guard seen.count == runs.count, let first = seen.first else { unknown.append(o); continue }
                guard seen.allSatisfy({ $0.dtype == first.dtype }) else {
                    notes.append("'\(o)' changes dtype between probes")
                    unknown.append(o)
                    continue
                }
                var shape: [Dim]? = nil
                if seen.allSatisfy({ $0.shape.count == first.shape.count }) {
                    shape = (0..<first.shape.count).map { axis in
                        let signature = seen.map { $0.shape[axis] }
                        if Set(signature).count == 1 { return .fixed(signature[0]) }
                        if let s = symbolBySignature[signature] { return .symbol(s) }
                        let base = k == 0 ? "\(n.name)_dim_\(axis)" : "\(n.name)_\(k)_dim_\(axis)"
                        var name = base
                        var suffix = 1
                        while symbolBySignature.values.contains(name) { name = "\(base)_\(suffix)"; suffix += 1 }
                        symbolBySignature[signature] = name
                        return .symbol(name)
                    }
                } else {
                    notes.append("'\(o)' changes rank between probes")
                }
                g.valueInfo[o] = ValueInfo(name: o, dtype: first.dtype, shape: shape)
                known += 1
                let values = seen.compactMap(\.value)
                if values.count == seen.count, values.dropFirst().allSatisfy({ $0.bitwiseEqual(values[0]) }) {
                    invariant[o] = values[0]
                }
            }
        }
        for v in g.inputs { g.valueInfo[v.name] = v }

        // Graph outputs take the inferred types; a fixed declared dim must agree.
        for i in g.outputs.indices {
            guard let info = g.valueInfo[g.outputs[i].name] ?? initializerInfo(g, g.outputs[i].name) else { continue }
            if let declared = g.outputs[i].shape, let inferred = info.shape {
                let conflict = declared.count != inferred.count || zip(declared, inferred).contains { d, e in
                    if case .fixed(let a) = d, case .fixed(let b) = e { return a != b }
                    return false
                }
                if conflict { throw PassError.shapeMismatch(value: g.outputs[i].name, declared: declared, inferred: inferred) }
            }
            g.outputs[i].dtype = info.dtype
            if info.shape != nil { g.outputs[i].shape = info.shape }
        }

        for (node, what) in failures.sorted(by: { $0.key < $1.key }).prefix(20) { notes.append("\(node): \(what)") }
        if failures.count > 20 { notes.append("... and \(failures.count - 20) more nodes could not be inferred") }
        let stats = PassStats(pass: "ShapeInference", nodesBefore: g.nodes.count, nodesAfter: g.nodes.count,
                              rewrites: known, notes: notes)
        return Result(stats: stats, probes: probes, invariantValues: invariant, unknownValues: unknown)
    }

    private static func initializerInfo(_ g: Graph, _ name: String) -> ValueInfo? {
        g.initializers[name].map { ValueInfo(name: name, dtype: $0.dtype, shape: $0.shape.map { .fixed($0) }) }
    }

    /// Concrete inference of one node; evaluates its outputs when they are small and every
    /// input value is known (or, for Shape, when the input's shape is).
    private static func infer(_ n: Node, _ env: inout [String: ShapeInput], valueLimit: Int) throws {
        var inputs: [ShapeInput?] = []
        for v in n.inputs {
            if v.isEmpty { inputs.append(nil); continue }
            guard let si = env[v] else { return }  // an upstream failure: leave outputs unknown
            inputs.append(si)
        }
        let types = try n.op.inferOutputs(inputs, node: n.name)
        var values: [Tensor]? = nil
        if case .shape = n.op, let x = inputs.first ?? nil {
            values = [try ShapeOnlyEvaluation.evaluateShape(n.op, dtype: x.dtype, shape: x.shape, node: n.name)]
        } else if types.allSatisfy({ $0.count <= valueLimit }),
                  inputs.allSatisfy({ $0 == nil || $0!.value != nil }) {
            // A kernel that cannot run here only costs the value, not the shape.
            values = try? Eval.evaluate(n.op, inputs.map { $0?.value }, node: n.name)
        }
        for (k, o) in n.outputs.enumerated() where !o.isEmpty && k < types.count {
            var si = ShapeInput(dtype: types[k].dtype, shape: types[k].shape)
            if let values, k < values.count, values[k].shape == types[k].shape { si.value = values[k] }
            env[o] = si
        }
    }
}
