import Runtime

/// Checks a graph's structure and puts its nodes in dependency order.
///
/// Every value must be produced exactly once (by a graph input, an initializer or one node
/// output), every node input and graph output must be produced, names must be unique and the
/// graph acyclic. Nodes already in order keep their order (ready nodes are taken by original
/// index), so sorting a sorted graph changes nothing. Empty node names are filled in, since
/// later error messages name nodes.
public enum TopologicalSort {
    public static func run(_ g: inout Graph) throws -> PassStats {
        let before = g.nodes.count
        var notes: [String] = []
        let graphName = g.name
        let invalid = { (what: String) in PassError.invalidGraph(graph: graphName, what: what) }

        // Node names: fill empty ones, refuse duplicates.
        var nodeNames = Set<String>()
        for n in g.nodes where !n.name.isEmpty {
            guard nodeNames.insert(n.name).inserted else { throw invalid("two nodes are named '\(n.name)'") }
        }
        var filled = 0
        for i in g.nodes.indices where g.nodes[i].name.isEmpty {
            var k = i
            var name = "\(g.nodes[i].op.typeName)_\(k)"
            while nodeNames.contains(name) { k += 1; name = "\(g.nodes[i].op.typeName)_\(i)_\(k)" }
            nodeNames.insert(name)
            g.nodes[i].name = name
            filled += 1
        }
        if filled > 0 { notes.append("named \(filled) unnamed nodes") }

        // Producers: graph inputs, initializers, node outputs, each value at most once.
        var producedBy: [String: Int] = [:]  // -1 for graph inputs and initializers
        for v in g.inputs {
            guard producedBy.updateValue(-1, forKey: v.name) == nil else { throw invalid("input '\(v.name)' is declared twice") }
            if g.initializers[v.name] != nil { throw invalid("'\(v.name)' is both a graph input and an initializer") }
        }
        for name in g.initializers.keys { producedBy[name] = -1 }
        for (i, n) in g.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if let p = producedBy[o] {
                    let other = p < 0 ? "a graph input or initializer" : "node '\(g.nodes[p].name)'"
                    throw invalid("value '\(o)' of node '\(n.name)' is also produced by \(other)")
                }
                producedBy[o] = i
            }
        }
        for n in g.nodes {
            for v in n.inputs where !v.isEmpty && producedBy[v] == nil {
                throw invalid("input '\(v)' of node '\(n.name)' (\(n.op.typeName)) is produced by nothing")
            }
        }
        var outputNames = Set<String>()
        for o in g.outputs {
            guard producedBy[o.name] != nil else { throw invalid("graph output '\(o.name)' is produced by nothing") }
            guard outputNames.insert(o.name).inserted else { throw invalid("graph output '\(o.name)' is listed twice") }
        }

        // Kahn's algorithm, taking the lowest original index among ready nodes.
        var pending = [Int](repeating: 0, count: g.nodes.count)
        var dependents = [[Int]](repeating: [], count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() {
            for p in Set(n.inputs.compactMap({ producedBy[$0] }).filter({ $0 >= 0 })) {
                pending[i] += 1
                dependents[p].append(i)
            }
        }
        var ready = IndexHeap()
        for i in pending.indices where pending[i] == 0 { ready.push(i) }
        var order: [Int] = []
        order.reserveCapacity(g.nodes.count)
        while let i = ready.pop() {
            order.append(i)
            for d in dependents[i] {
                pending[d] -= 1
                if pending[d] == 0 { ready.push(d) }
            }
        }
        guard order.count == g.nodes.count else {
            let stuck = pending.indices.filter { pending[$0] > 0 }.prefix(3).map { "'\(g.nodes[$0].name)'" }
            throw invalid("the nodes form a cycle (involving \(stuck.joined(separator: ", ")))")
        }
        let moved = zip(order, order.indices).filter { $0 != $1 }.count
        if moved > 0 {
            let old = g.nodes
            g.nodes = order.map { old[$0] }
        }
        return PassStats(pass: "TopologicalSort", nodesBefore: before, nodesAfter: g.nodes.count,
                         rewrites: moved + filled, notes: notes)
    }
}

/// A binary min-heap of node indices.
struct IndexHeap {
    private var items: [Int] = []

    mutating func push(_ v: Int) {
        items.append(v)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}
