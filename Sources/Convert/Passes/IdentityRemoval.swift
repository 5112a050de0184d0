import Runtime

/// Removes Identity nodes (the importer maps inference-mode Dropout to Identity too) by
/// pointing their readers at the Identity's input. An Identity that produces a graph output
/// keeps the output's name: its producer's output is renamed instead, when that producer is a
/// node whose output is not itself a graph output; otherwise the Identity stays.
public enum IdentityRemoval {
    public static func run(_ g: inout Graph) -> PassStats {
        let before = g.nodes.count
        var removed = 0
        var kept = 0
        var i = 0
        while i < g.nodes.count {
            let n = g.nodes[i]
            guard case .identity = n.op, n.inputs.count == 1, n.outputs.count == 1, !n.inputs[0].isEmpty else {
                i += 1
                continue
            }
            let src = n.inputs[0], dst = n.outputs[0]
            let outputs = Set(g.outputs.map(\.name))
            if !outputs.contains(dst) {
                g.nodes.remove(at: i)
                g.replaceUses(of: dst, with: src)
                if let info = g.valueInfo.removeValue(forKey: dst), g.valueInfo[src] == nil {
                    g.valueInfo[src] = ValueInfo(name: src, dtype: info.dtype, shape: info.shape)
                }
                removed += 1
                continue
            }
            // dst is a graph output: rename src to dst if src comes from a node and is not an output itself.
            let producedByNode = g.nodes.contains { $0.outputs.contains(src) }
            if producedByNode && !outputs.contains(src) {
                g.nodes.remove(at: i)
                for k in g.nodes.indices {
                    for j in g.nodes[k].outputs.indices where g.nodes[k].outputs[j] == src { g.nodes[k].outputs[j] = dst }
                    for j in g.nodes[k].inputs.indices where g.nodes[k].inputs[j] == src { g.nodes[k].inputs[j] = dst }
                }
                if let info = g.valueInfo.removeValue(forKey: src), g.valueInfo[dst] == nil {
                    g.valueInfo[dst] = ValueInfo(name: dst, dtype: info.dtype, shape: info.shape)
                }
                removed += 1
                continue
            }
            kept += 1
            i += 1
        }
        let notes = kept > 0 ? ["kept \(kept) Identity nodes that copy a graph input, initializer or output to an output"] : []
        return PassStats(pass: "IdentityRemoval", nodesBefore: before, nodesAfter: g.nodes.count, rewrites: removed, notes: notes)
    }
}
