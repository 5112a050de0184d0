import Runtime

/// Keeps narrow lookup tables narrow at run time. In an fp16 or int8 pack a large Gather table
/// (CLIP's token embedding, 49408 x 512) is stored narrow and widened by a Cast or a
/// DequantizeLinear that the Plan folds once per loaded model: the whole table in float32 on the
/// heap (101 MB) though a batch of labels reads a few hundred of its rows. When every reader of
/// the widened table is an axis-0 Gather taking it as data, each Gather instead gathers the
/// narrow rows and widens only those:
/// - Cast(t16 -> float32) -> Gather(ids)  becomes  Gather(t16, ids) -> Cast(float32)
/// - DequantizeLinear(q, s, axis 0) -> Gather(ids)  becomes  Cast(Gather(q, ids)) * Gather(s', ids)
///   with s' the per-row scales shaped [V, 1, ...] (one scale for the whole table is used as is)
/// Both give the same floats as widening first: half-to-float is exact, and DequantizeLinear
/// without a zero point computes Float(q) * s, one rounding, as Cast then Mul does. The narrow
/// table is then read only by Gathers, so the pack stores it raw and it stays mapped
/// (Graph.lookupTables). The last node keeps the Gather's name and output.
public enum LookupTableRewrite {
    /// Returns the names of the narrow tables now gathered directly.
    @discardableResult
    public static func apply(_ graph: inout Graph) -> [String] {
        let consumers = graph.consumers
        let graphOutputs = Set(graph.outputs.map(\.name))
        var taken = Set<String>()
        var replacement: [Int: [Node]] = [:]
        var dropped = Set<Int>()
        var droppedInitializers = Set<String>()
        var tables: [String] = []
        for (i, widen) in graph.nodes.enumerated() {
            guard widen.outputs.count == 1, let wide = widen.outputs.first, !graphOutputs.contains(wide),
                  let narrow = widen.inputs.first, let table = graph.initializers[narrow], table.rank >= 1,
                  let readers = consumers[wide], !readers.isEmpty,
                  readers.allSatisfy({ j in
                      let g = graph.nodes[j]
                      return g.op == .gather(axis: 0) && g.inputs.count == 2 && g.inputs[0] == wide && g.inputs[1] != wide
                          && g.outputs.count == 1
                  }) else { continue }
            // The scale a DequantizeLinear multiplies by: one for the whole table, or one per row.
            enum Scale { case none, whole(String), perRow(String) }
            var scale = Scale.none
            switch widen.op {
            case .cast(to: .float32):
                guard table.dtype == .float16, widen.inputs.count == 1 else { continue }
            case .dequantizeLinear(let axis):
                guard table.dtype == .int8 || table.dtype == .uint8, widen.inputs.count == 2,
                      let s = graph.initializers[widen.inputs[1]], s.dtype == .float32 else { continue }
                if s.count == 1 {
                    scale = .whole(widen.inputs[1])
                } else {
                    guard axis == 0 || axis == -table.rank, s.rank == 1, s.count == table.shape[0] else { continue }
                    if table.rank == 1 {
                        scale = .perRow(widen.inputs[1])
                    } else {
                        let rows = graph.freshName(widen.inputs[1] + "__rows", taken: &taken)
                        graph.initializers[rows] = .float32(s.scalars(as: Float.self), shape: [s.count] + Array(repeating: 1, count: table.rank - 1))
                        scale = .perRow(rows)
                        droppedInitializers.insert(widen.inputs[1])
                    }
                }
            default:
                continue
            }
            for j in readers {
                let gather = graph.nodes[j], ids = gather.inputs[1], out = gather.outputs[0]
                let rows = graph.freshName(out + "__narrow", taken: &taken)
                var nodes = [Node(name: graph.freshName(gather.name + "__narrow", taken: &taken), op: .gather(axis: 0),
                                  inputs: [narrow, ids], outputs: [rows])]
                func widened() -> String {
                    let v = graph.freshName(out + "__widened", taken: &taken)
                    nodes.append(Node(name: graph.freshName(gather.name + "__widen", taken: &taken), op: .cast(to: .float32),
                                      inputs: [rows], outputs: [v]))
                    return v
                }
                switch scale {
                case .none:
                    nodes.append(Node(name: gather.name, op: .cast(to: .float32), inputs: [rows], outputs: [out]))
                case .whole(let s):
                    nodes.append(Node(name: gather.name, op: .mul, inputs: [widened(), s], outputs: [out]))
                case .perRow(let s):
                    let rowScales = graph.freshName(out + "__scales", taken: &taken)
                    nodes.append(Node(name: graph.freshName(gather.name + "__scales", taken: &taken), op: .gather(axis: 0),
                                      inputs: [s, ids], outputs: [rowScales]))
                    nodes.append(Node(name: gather.name, op: .mul, inputs: [widened(), rowScales], outputs: [out]))
                }
                replacement[j] = nodes
            }
            dropped.insert(i)
            tables.append(narrow)
        }
        guard !tables.isEmpty else { return [] }
        var nodes: [Node] = []
        for (i, n) in graph.nodes.enumerated() where !dropped.contains(i) {
            if let r = replacement[i] { nodes.append(contentsOf: r) } else { nodes.append(n) }
        }
        graph.nodes = nodes
        graph.removeUnusedInitializers(among: droppedInitializers)
        return tables
    }
}
