import Runtime

/// Why a graph pass refused a graph: every case names the node or value a user must look at.
/// (Kept small on purpose; it folds into the module's `ConvertError` once that lands.)
public enum PassError: Error, CustomStringConvertible, Equatable {
    /// The graph's structure is broken: a value produced twice, an input nobody produces, a cycle.
    case invalidGraph(graph: String, what: String)
    /// A node the pass had to evaluate failed.
    case badNode(node: String, op: String, what: String)
    /// A declared shape disagrees with the inferred one.
    case shapeMismatch(value: String, declared: [Dim], inferred: [Dim])
    case badOptions(String)

    public var description: String {
        switch self {
        case .invalidGraph(let graph, let what): return "graph '\(graph)': \(what)"
        case .badNode(let node, let op, let what): return "node '\(node)' (\(op)): \(what)"
        case .shapeMismatch(let value, let declared, let inferred):
            return "value '\(value)': declared shape \(declared) but inferred \(inferred)"
        case .badOptions(let what): return "pass options: \(what)"
        }
    }
}

/// What one pass did, for the pipeline report.
public struct PassStats: Sendable, CustomStringConvertible {
    public var pass: String
    public var nodesBefore: Int
    public var nodesAfter: Int
    /// Rewrites applied (fusions matched, nodes folded, identities removed, ...).
    public var rewrites: Int
    /// Things worth telling a user (nodes that could not be evaluated, patterns skipped and why).
    public var notes: [String]

    public init(pass: String, nodesBefore: Int, nodesAfter: Int, rewrites: Int, notes: [String] = []) {
        self.pass = pass; self.nodesBefore = nodesBefore; self.nodesAfter = nodesAfter
        self.rewrites = rewrites; self.notes = notes
    }

    public var description: String { "\(pass): \(nodesBefore) -> \(nodesAfter) nodes, \(rewrites) rewrites" }
}
