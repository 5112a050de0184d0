import Runtime

/// Removes nodes none of whose outputs reach a graph output, then initializers nobody reads.
public enum DeadCodeElimination {
    public static func run(_ g: inout Graph) -> PassStats {
        let before = g.nodes.count
        var live = Set(g.outputs.map(\.name))
        var keep = [Bool](repeating: false, count: g.nodes.count)
        // Nodes are in topological order, so one backward sweep finds every live node.
        for i in g.nodes.indices.reversed() where g.nodes[i].outputs.contains(where: { live.contains($0) }) {
            keep[i] = true
            for v in g.nodes[i].inputs where !v.isEmpty { live.insert(v) }
        }
        g.nodes = g.nodes.indices.filter { keep[$0] }.map { g.nodes[$0] }
        let deadInitializers = g.initializers.keys.filter { !live.contains($0) }
        for name in deadInitializers { g.initializers[name] = nil }
        let produced = Set(g.nodes.flatMap(\.outputs)).union(g.inputs.map(\.name))
        for name in Array(g.valueInfo.keys) where !produced.contains(name) { g.valueInfo[name] = nil }
        var notes: [String] = []
        if !deadInitializers.isEmpty { notes.append("removed \(deadInitializers.count) unused initializers") }
        return PassStats(pass: "DeadCodeElimination", nodesBefore: before, nodesAfter: g.nodes.count,
                         rewrites: before - g.nodes.count + deadInitializers.count, notes: notes)
    }
}
