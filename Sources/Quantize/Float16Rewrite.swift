import Runtime

/// fp16 mode: float32 weights are stored as float16 and a Cast to float32 follows each. The Plan
/// folds those casts when a pack is loaded, so execution stays float32 and only the pack shrinks.
public enum Float16Rewrite {
    /// Tensors smaller than this stay float32 (scalars, small biases: nothing to gain).
    public static let minimumElements = 64
    static let halfMaximum: Float = 65504

    /// Returns the names of the initializers stored as float16.
    @discardableResult
    public static func apply(_ graph: inout Graph) -> [String] {
        var taken = Set<String>()
        var casts: [Node] = []
        var converted: [String] = []
        for name in graph.initializers.keys.sorted() {
            guard let t = graph.initializers[name], t.dtype == .float32, t.count >= minimumElements else { continue }
            let values = t.scalars(as: Float.self)
            // Finite values beyond the half range (mask constants such as -1e9) would become
            // infinities; such tensors stay float32.
            guard !values.contains(where: { $0.isFinite && Swift.abs($0) > halfMaximum }) else { continue }
            let half = Float16Conversion.toHalf(values)
            let stored = graph.freshName(name + "__fp16", taken: &taken)
            graph.initializers[stored] = Tensor(dtype: .float16, shape: t.shape, scalars: half)
            graph.initializers.removeValue(forKey: name)
            graph.valueInfo[stored] = ValueInfo(name: stored, dtype: .float16, shape: t.shape.map { .fixed($0) })
            casts.append(Node(name: graph.freshName(name + "__cast", taken: &taken), op: .cast(to: .float32),
                              inputs: [stored], outputs: [name]))
            converted.append(name)
        }
        graph.nodes.insert(contentsOf: casts, at: 0)
        return converted
    }
}
