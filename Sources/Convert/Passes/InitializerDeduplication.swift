import Runtime

/// Merges initializers with equal dtype, shape, quantization and bytes (exporters duplicate shared weights
/// and small constants); readers of a duplicate are pointed at the first name in sorted order.
public enum InitializerDeduplication {
    public static func run(_ g: inout Graph) -> PassStats {
        let protected = Set(g.outputs.map(\.name)).union(g.inputs.map(\.name))
        var groups: [ContentKey: [String]] = [:]
        for name in g.initializers.keys.sorted() where !protected.contains(name) {
            let t = g.initializers[name]!
            groups[ContentKey(t), default: []].append(name)
        }
        var rename: [String: String] = [:]
        for names in groups.values where names.count > 1 {
            var canonical: [String] = []
            for name in names {
                let t = g.initializers[name]!
                if let c = canonical.first(where: { g.initializers[$0]!.bitwiseEqual(t) && g.initializers[$0]!.quant == t.quant }) {
                    rename[name] = c
                } else {
                    canonical.append(name)
                }
            }
        }
        if !rename.isEmpty {
            for i in g.nodes.indices {
                for j in g.nodes[i].inputs.indices {
                    if let c = rename[g.nodes[i].inputs[j]] { g.nodes[i].inputs[j] = c }
                }
            }
            for name in rename.keys { g.initializers[name] = nil }
        }
        return PassStats(pass: "InitializerDeduplication", nodesBefore: g.nodes.count, nodesAfter: g.nodes.count,
                         rewrites: rename.count, notes: rename.isEmpty ? [] : ["merged \(rename.count) duplicate initializers"])
    }

    /// Candidates share dtype and shape; their bytes are then compared (memcmp stops at the
    /// first difference, so distinct same-shaped weights cost little).
    private struct ContentKey: Hashable {
        var dtype: DType
        var shape: [Int]
        init(_ t: Tensor) { dtype = t.dtype; shape = t.shape }
    }
}
