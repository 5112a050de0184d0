import Glibc

/// Runs the graphs of a Model: one graph by name, or all of them in link order as the original
/// combined export did. Keeps a few Sessions per graph for the most recent input shapes, so a
/// stream of same-sized inputs plans once.
///
/// A graph with a `SequenceTruncation` record (a causal text tower) is run only up to the
/// longest row's end token: the caller passes the full [N, 77] tokens, `run` cuts them to
/// L = 1 + the largest first-maximum position and runs a plan for [N, L]. Its outputs are
/// bit-identical to the full-length run (the converter checked that before recording it).
public final class ModelRunner: @unchecked Sendable {
    public let model: Model
    public let threads: Int
    /// Per graph, most recently used first; truncated runs are keyed by their cut shapes.
    private var cache: [String: [(shapes: [String: [Int]], session: Session)]] = [:]
    private var truncatable: [String: Graph] = [:]
    /// Per graph: the graph with its weight-only nodes evaluated once (see `foldingWeightNodes`).
    private var weightFolded: [String: Graph] = [:]
    private let lock = PThreadLock()
    /// Sessions kept per graph (each holds its own arena).
    public static let sessionsPerGraph = 4
    /// Cut sequences where the pack allows it. False: always run the declared length. Also
    /// skipped while an `observer` is installed, so observers see the graph at its declared shapes.
    public var truncatesSequences = true
    /// Installed on every session this runner makes (for --trace and compare).
    public var observer: ((Node, [TensorView]) -> Void)?
    /// Working-memory ceiling per planned graph (arena + workspace), in bytes; nil: no limit.
    public var maxMemoryBytes: Int?
    /// Weights transformed once for kernels, shared by every session of this model.
    public let prepared = PreparedWeights()

    /// Packs fp32 Linear weights for this CPU's kernel (`PanelLinearRewrite`) unless
    /// `packLinearWeights` is false; `model` then holds the packed layout. Hand the model over:
    /// each weight is then re-laid out in its own buffer. A model the caller still holds is left
    /// as it is and the packed weights are a second copy.
    public init(model: consuming Model, threads: Int = ProcessorCount.active, maxMemoryBytes: Int? = nil,
                packLinearWeights: Bool = true) {
        self.threads = max(1, threads)
        if packLinearWeights { PanelLinearRewrite.apply(&model, threads: self.threads) }
        self.model = model
        self.maxMemoryBytes = maxMemoryBytes
        self.packsLinearWeights = packLinearWeights
    }

    /// Whether Linear weights made at run time (float16 weights widened) are packed too.
    private let packsLinearWeights: Bool

    /// The session for `graph` planned for these input shapes (cached).
    public func session(graph name: String, inputShapes: [String: [Int]]) throws -> Session {
        try session(graph: name, inputShapes: inputShapes, truncated: false)
    }

    private func session(graph name: String, inputShapes: [String: [Int]], truncated: Bool) throws -> Session {
        lock.lock(); defer { lock.unlock() }
        let key = truncated ? name + "\u{0}truncated" : name
        var entries = cache[key] ?? []
        if let i = entries.firstIndex(where: { $0.shapes == inputShapes }) {
            let hit = entries.remove(at: i)
            cache[key] = [hit] + entries
            return hit.session
        }
        guard var g = model.graph(named: name) else {
            throw RuntimeError.badInput(name: name, what: "no graph of that name (graphs: \(model.graphs.map(\.name).joined(separator: ", ")))")
        }
        if let folded = weightFolded[name] {
            g = folded
        } else {
            g = ModelRunner.foldingWeightNodes(g, threads: threads)
            // Handed over, so widened weights only this copy holds are re-laid out in place.
            if packsLinearWeights { g = PanelLinearRewrite.apply(consume g, threads: threads) }
            weightFolded[name] = g
        }
        if truncated, let record = model.metadata.sequenceTruncation?[name] {
            if truncatable[name] == nil { truncatable[name] = ModelRunner.withSymbolicLength(g, record) }
            g = truncatable[name]!
        }
        let s = Session(plan: try Plan(graph: g, inputShapes: inputShapes, maxMemoryBytes: maxMemoryBytes), threads: threads,
                        prepared: prepared)
        s.observer = observer
        cache[key] = Array(([(inputShapes, s)] + entries).prefix(ModelRunner.sessionsPerGraph))
        return s
    }

    /// The graph with every node that reads only initializers (float16 weights cast to float32,
    /// int8 weights dequantized) evaluated once and stored as an initializer. Each plan would
    /// otherwise fold its own copy: one copy per cached plan instead of one per model, and a
    /// per-plan copy cannot be prepared once (`Session` prepares only the graph's initializers,
    /// whose addresses are not reused while the model lives), so an fp16 pack re-transformed its
    /// Winograd filters on every run. A node whose evaluation fails is left for the plan, which
    /// reports it. Graph outputs and initializers that double as graph inputs stay as they are.
    public static func foldingWeightNodes(_ g: Graph, threads: Int = 1) -> Graph {
        var out = g
        let inputNames = Set(g.inputs.map(\.name)), outputNames = Set(g.outputs.map(\.name))
        var kept: [Node] = []
        kept.reserveCapacity(g.nodes.count)
        for node in g.nodes {
            let names = node.inputs.filter { !$0.isEmpty }
            let foldable = !names.isEmpty
                && names.allSatisfy { out.initializers[$0] != nil && !inputNames.contains($0) }
                && node.outputs.allSatisfy { !outputNames.contains($0) && out.initializers[$0] == nil }
            guard foldable, let results = try? Eval.evaluate(node.op, node.inputs.map { $0.isEmpty ? nil : out.initializers[$0] },
                                                             node: node.name, threads: threads),
                  results.count >= node.outputs.count else {
                kept.append(node)
                continue
            }
            for (name, t) in zip(node.outputs, results) where !name.isEmpty { out.initializers[name] = t }
        }
        out.nodes = kept
        // Initializers only the folded nodes read are dropped from this copy (the model keeps its own).
        var used = Set(outputNames)
        for node in kept { for name in node.inputs where !name.isEmpty { used.insert(name) } }
        out.initializers = out.initializers.filter { used.contains($0.key) || inputNames.contains($0.key) }
        return out
    }

    /// A cut run has at least this many token rows (labels x positions); the converter verifies
    /// bit-identity for one label at this length.
    public static let minimumTruncatedRows = 16

    /// The symbol a truncatable sequence axis takes when planned for cut inputs.
    public static let sequenceLengthSymbol = "sequence_length"

    /// The graph with the truncatable axis symbolic, as planned for cut inputs.
    public static func withSymbolicLength(_ g: Graph, _ r: SequenceTruncation) -> Graph {
        var v = g
        if let k = v.inputs.firstIndex(where: { $0.name == r.input }), var shape = v.inputs[k].shape, r.axis < shape.count {
            shape[r.axis] = .symbol(sequenceLengthSymbol)
            v.inputs[k].shape = shape
        }
        return v
    }

    /// Runs one graph (cut to the end tokens where the pack records that this is exact).
    public func run(graph name: String, inputs: [String: Tensor]) throws -> [String: Tensor] {
        if let (feed, shapes) = truncatedFeed(graph: name, inputs: inputs) {
            return try session(graph: name, inputShapes: shapes, truncated: true).run(feed)
        }
        return try session(graph: name, inputShapes: inputs.mapValues(\.shape)).run(inputs)
    }

    /// The session and inputs `run` would use: for benchmarks and profiles of the truncated run.
    public func preparedRun(graph name: String, inputs: [String: Tensor]) throws -> (session: Session, inputs: [String: Tensor]) {
        if let (feed, shapes) = truncatedFeed(graph: name, inputs: inputs) {
            return (try session(graph: name, inputShapes: shapes, truncated: true), feed)
        }
        return (try session(graph: name, inputShapes: inputs.mapValues(\.shape)), inputs)
    }

    /// The inputs cut along the recorded axis, when truncation applies and shortens them.
    private func truncatedFeed(graph name: String, inputs: [String: Tensor]) -> ([String: Tensor], [String: [Int]])? {
        guard truncatesSequences, observer == nil, let r = model.metadata.sequenceTruncation?[name],
              let tokens = inputs[r.input], r.axis < tokens.rank, tokens.shape[r.axis] == r.fullLength,
              let end = ModelRunner.endTokenLength(tokens, axis: r.axis) else { return nil }
        // At least `minimumTruncatedRows` token rows in all: BLAS libraries hand GEMMs with very
        // few rows to other kernels (GEMV, small-matrix paths) that sum in a different order.
        let rows = max(1, tokens.count / r.fullLength)
        let length = max(end, (ModelRunner.minimumTruncatedRows + rows - 1) / rows)
        guard length < r.fullLength else { return nil }
        var feed = inputs
        feed[r.input] = ModelRunner.prefix(tokens, axis: r.axis, length: length)
        return (feed, feed.mapValues(\.shape))
    }

    /// 1 + the largest position of the first maximum along `axis` over all rows (ONNX ArgMax
    /// with select_last_index = 0); nil for non-integer or empty tensors.
    public static func endTokenLength(_ x: Tensor, axis: Int) -> Int? {
        let n = x.shape[axis]
        guard n > 0, x.count > 0 else { return nil }
        let outer = Tensor.elementCount(Array(x.shape[..<axis]))
        let inner = Tensor.elementCount(Array(x.shape[(axis + 1)...]))
        func scan<T: Comparable>(_ p: UnsafePointer<T>) -> Int {
            var longest = 0
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var best = p[base], at = 0
                    for k in 1..<max(n, 1) where p[base + k * inner] > best { best = p[base + k * inner]; at = k }
                    longest = max(longest, at)
                }
            }
            return longest + 1
        }
        switch x.dtype {
        case .int64: return scan(x.data.assumingMemoryBound(to: Int64.self))
        case .int32: return scan(x.data.assumingMemoryBound(to: Int32.self))
        default: return nil
        }
    }

    /// The first `length` entries of `x` along `axis`.
    public static func prefix(_ x: Tensor, axis: Int, length: Int) -> Tensor {
        let outer = Tensor.elementCount(Array(x.shape[..<axis]))
        let inner = Tensor.elementCount(Array(x.shape[(axis + 1)...])) * x.dtype.byteSize
        var shape = x.shape
        shape[axis] = length
        let out = Tensor(dtype: x.dtype, shape: shape)
        for o in 0..<outer {
            (out.data + o * length * inner).copyMemory(from: x.data + o * x.shape[axis] * inner, byteCount: length * inner)
        }
        return out
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
