import Foundation

/// Runs the graphs of a Model: one graph by name, or all of them in link order as the original
/// combined export did. Keeps one Session per graph for the most recent input shapes, so a
/// stream of same-sized inputs plans once.
public final class ModelRunner: @unchecked Sendable {
    public let model: Model
    public let threads: Int
    private var cache: [String: (shapes: [String: [Int]], session: Session)] = [:]
    private let lock = NSLock()
    /// Installed on every session this runner makes (for --trace and compare).
    public var observer: ((Node, [TensorView]) -> Void)?
    /// Working-memory ceiling per planned graph (arena + workspace), in bytes; nil: no limit.
    public var maxMemoryBytes: Int?
    /// Weights transformed once for kernels, shared by every session of this model.
    public let prepared = PreparedWeights()

    public init(model: Model, threads: Int = ProcessInfo.processInfo.activeProcessorCount, maxMemoryBytes: Int? = nil) {
        self.model = model
        self.threads = max(1, threads)
        self.maxMemoryBytes = maxMemoryBytes
    }

    /// The session for `graph` planned for these input shapes (cached).
    public func session(graph name: String, inputShapes: [String: [Int]]) throws -> Session {
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[name], hit.shapes == inputShapes { return hit.session }
        guard let g = model.graph(named: name) else {
            throw RuntimeError.badInput(name: name, what: "no graph of that name (graphs: \(model.graphs.map(\.name).joined(separator: ", ")))")
        }
        let s = Session(plan: try Plan(graph: g, inputShapes: inputShapes, maxMemoryBytes: maxMemoryBytes), threads: threads,
                        prepared: prepared)
        s.observer = observer
        cache[name] = (inputShapes, s)
        return s
    }

    /// Runs one graph.
    public func run(graph name: String, inputs: [String: Tensor]) throws -> [String: Tensor] {
        try session(graph: name, inputShapes: inputs.mapValues(\.shape)).run(inputs)
    }

    /// Graphs in an order where every link's source runs before its target.
    public var graphOrder: [String] {
        var order: [String] = []
        var remaining = model.graphs.map(\.name)
        while !remaining.isEmpty {
            let ready = remaining.first { g in
                model.metadata.links.allSatisfy { $0.toGraph != g || order.contains($0.fromGraph) }
            } ?? remaining[0]
            order.append(ready)
            remaining.removeAll { $0 == ready }
        }
        return order
    }

    /// The inputs a caller provides when running all graphs: every graph input not fed by a link.
    public var externalInputs: [ValueInfo] {
        model.graphs.flatMap { g in
            g.inputs.filter { i in !model.metadata.links.contains { $0.toGraph == g.name && $0.toInput == i.name } }
        }
    }

    /// Runs every graph in link order, feeding linked outputs to inputs; returns the outputs
    /// of all graphs that no link consumes.
    public func runAll(inputs: [String: Tensor]) throws -> [String: Tensor] {
        var produced: [String: [String: Tensor]] = [:]
        var result: [String: Tensor] = [:]
        for name in graphOrder {
            guard let g = model.graph(named: name) else { continue }
            var feed: [String: Tensor] = [:]
            for i in g.inputs {
                if let link = model.metadata.links.first(where: { $0.toGraph == name && $0.toInput == i.name }) {
                    guard let t = produced[link.fromGraph]?[link.fromOutput] else {
                        throw RuntimeError.badInput(name: i.name, what: "linked from \(link.fromGraph).\(link.fromOutput), which was not produced")
                    }
                    feed[i.name] = t
                } else {
                    guard let t = inputs[i.name] else { throw RuntimeError.badInput(name: i.name, what: "missing") }
                    feed[i.name] = t
                }
            }
            let outs = try run(graph: name, inputs: feed)
            produced[name] = outs
            for (k, v) in outs where !model.metadata.links.contains(where: { $0.fromGraph == name && $0.fromOutput == k }) {
                result[k] = v
            }
        }
        return result
    }
}
