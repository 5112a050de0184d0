/// Errors of the runtime: every case carries what a user needs to find the problem.
public enum RuntimeError: Error, CustomStringConvertible, Equatable {
    /// A pack file is malformed: file, section or tensor, and what is wrong.
    case badPack(file: String, what: String)
    /// A node cannot run: node name, op type, what is wrong.
    case badNode(node: String, op: String, what: String)
    /// An input given to a session is wrong.
    case badInput(name: String, what: String)
    case io(file: String, what: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .badPack(let file, let what): return "\(file): \(what)"
        case .badNode(let node, let op, let what): return "node '\(node)' (\(op)): \(what)"
        case .badInput(let name, let what): return "input '\(name)': \(what)"
        case .io(let file, let what): return "\(file): \(what)"
        case .unsupported(let what): return "unsupported: \(what)"
        }
    }
}
