import Foundation
import Runtime

/// Small graph edits shared by the rewrites.
extension Graph {
    /// A value name not used by any initializer, node output or graph input, built from `base`.
    mutating func freshName(_ base: String, taken: inout Set<String>) -> String {
        if taken.isEmpty {
            taken = Set(initializers.keys).union(inputs.map(\.name)).union(nodes.flatMap(\.outputs))
        }
        var name = base, k = 1
        while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
        taken.insert(name)
        return name
    }

    /// Drops those of `candidates` no node and no graph output uses any more (only the weights a
    /// rewrite replaced: other unreferenced tensors, such as the vocabulary, must stay).
    mutating func removeUnusedInitializers(among candidates: Set<String>) {
        var used = Set(outputs.map(\.name))
        for n in nodes { used.formUnion(n.inputs) }
        for k in candidates where !used.contains(k) { initializers.removeValue(forKey: k) }
    }

    /// The nodes that read each value.
    var consumers: [String: [Int]] {
        var c: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for v in n.inputs where !v.isEmpty { c[v, default: []].append(i) } }
        return c
    }
}

/// Glob patterns (`*`, `?`, `[...]`) over node names, for --keep-float.
public struct NamePatterns: Sendable {
    public var patterns: [String]
    public init(_ patterns: [String]) { self.patterns = patterns }
    public func matches(_ name: String) -> Bool {
        patterns.contains { p in p == name || fnmatch(p, name, 0) == 0 }
    }
}
