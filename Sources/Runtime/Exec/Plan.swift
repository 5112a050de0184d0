import Glibc

/// Where a value lives during a run.
public enum Slot: Sendable {
    /// A graph input: the caller's tensor, bound per run.
    case input(Int)
    /// A weight, or a value computed while planning (shape sub-graphs, constants).
    case constant(Tensor)
    /// A byte offset into the session's arena.
    case arena(offset: Int)
}

/// One kernel call of a run.
public struct Step: Sendable {
    public var nodeIndex: Int
    public var inputs: [Int?]   // value ids; nil = omitted optional input
    public var outputs: [Int]
    /// Output 0 aliases input 0 (a view op whose input is in the arena): nothing to do at run time.
    public var isAlias: Bool
}

/// A graph prepared for concrete input shapes: every value's type and shape resolved, shape
/// sub-graphs evaluated, kernels listed in order, and every intermediate given an arena offset
/// by lifetime. Plans are immutable and may be shared by several Sessions.
public final class Plan: @unchecked Sendable {
    public let graph: Graph
    /// Per value id: name, type and slot.
    public let names: [String]
    public let types: [TypedShape]
    public let slots: [Slot]
    public let steps: [Step]
    public let inputIds: [Int]
    public let outputIds: [Int]
    public let arenaBytes: Int
    public let workspaceBytes: Int
    /// Concrete values bound to the graph's symbolic dimensions.
    public let symbols: [String: Int]
    /// Nodes evaluated while planning (shape arithmetic, constants): not run by Session.
    public let foldedNodeCount: Int

    static let alignment = 64

    /// Plans `graph` for inputs of the given shapes (graph input name -> shape).
    /// - Parameter maxMemoryBytes: refuse (before any Session allocates it) a plan whose arena
    ///   plus workspace would exceed this many bytes; nil for no limit.
    public init(graph: Graph, inputShapes: [String: [Int]], maxMemoryBytes: Int? = nil) throws {
        self.graph = graph
        var ids: [String: Int] = [:]
        var names: [String] = []
        var types: [TypedShape] = []
        var values: [Tensor?] = []
        func newValue(_ name: String, _ t: TypedShape, _ v: Tensor?) throws -> Int {
            guard ids[name] == nil else {
                throw RuntimeError.badNode(node: name, op: "graph", what: "value '\(name)' is defined twice")
            }
            ids[name] = names.count
            names.append(name); types.append(t); values.append(v)
            return names.count - 1
        }

        // Inputs: check rank and fixed dims, bind symbols consistently.
        var symbols: [String: Int] = [:]
        var inputIds: [Int] = []
        for info in graph.inputs {
            guard let shape = inputShapes[info.name] else {
                throw RuntimeError.badInput(name: info.name, what: "no shape given (graph inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
            }
            if let declared = info.shape {
                guard declared.count == shape.count else {
                    throw RuntimeError.badInput(name: info.name, what: "rank \(shape.count) given, graph declares \(declared)")
                }
                for (d, s) in zip(declared, shape) {
                    guard s >= 0 else { throw RuntimeError.badInput(name: info.name, what: "negative dimension in \(shape)") }
                    switch d {
                    case .fixed(let v):
                        guard v == s else { throw RuntimeError.badInput(name: info.name, what: "shape \(shape) does not match declared \(declared)") }
                    case .symbol(let name):
                        if let bound = symbols[name], bound != s {
                            throw RuntimeError.badInput(name: info.name, what: "dimension \(name) is \(bound) elsewhere but \(s) here")
                        }
                        symbols[name] = s
                    }
                }
            }
            guard Tensor.checkedElementCount(shape) != nil else {
                throw RuntimeError.badInput(name: info.name, what: "shape \(shape) is too large")
            }
            inputIds.append(try newValue(info.name, TypedShape(info.dtype, shape), nil))
        }
        for unknown in inputShapes.keys where !graph.inputs.contains(where: { $0.name == unknown }) {
            throw RuntimeError.badInput(name: unknown, what: "not an input of graph '\(graph.name)' (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        for (name, t) in graph.initializers.sorted(by: { $0.key < $1.key }) where ids[name] == nil {
            _ = try newValue(name, TypedShape(t.dtype, t.shape), t)
        }

        // Resolve every node: evaluate it now when all its inputs are known, else schedule it.
        var steps: [Step] = []
        var folded = 0
        for (index, node) in graph.nodes.enumerated() {
            var ins: [Int?] = []
            for name in node.inputs {
                if name.isEmpty { ins.append(nil); continue }
                guard let id = ids[name] else {
                    throw RuntimeError.badNode(node: node.name, op: node.op.typeName, what: "input '\(name)' is not produced before this node")
                }
                ins.append(id)
            }
            let shapeInputs = ins.map { $0.map { ShapeInput(dtype: types[$0].dtype, shape: types[$0].shape, value: values[$0]) } }
            let allKnown = ins.allSatisfy { $0 == nil || values[$0!] != nil }
            if case .shape = node.op, let x = ins.first ?? nil, values[x] == nil {
                // Shape reads only its input's shape: evaluate it now over a view with no data.
                let outs = try Plan.evaluateShape(node, TypedShape(types[x].dtype, types[x].shape))
                for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                    _ = try newValue(name, TypedShape(t.dtype, t.shape), t)
                }
                folded += 1
                continue
            }
            if allKnown {
                let outs = try Eval.evaluate(node.op, ins.map { $0.flatMap { values[$0] } }, node: node.name)
                guard outs.count >= node.outputs.count else {
                    throw RuntimeError.badNode(node: node.name, op: node.op.typeName, what: "kernel gave \(outs.count) outputs, node has \(node.outputs.count)")
                }
                for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                    _ = try newValue(name, TypedShape(t.dtype, t.shape), t)
                }
                folded += 1
                continue
            }
            let outTypes = try node.op.inferOutputs(shapeInputs, node: node.name)
            guard outTypes.count >= node.outputs.count else {
                throw RuntimeError.badNode(node: node.name, op: node.op.typeName, what: "shape inference gave \(outTypes.count) outputs, node has \(node.outputs.count)")
            }
            var outIds: [Int] = []
            for (name, t) in zip(node.outputs, outTypes) {
                guard Tensor.checkedElementCount(t.shape) != nil else {
                    throw RuntimeError.badNode(node: node.name, op: node.op.typeName, what: "output shape \(t.shape) is too large")
                }
                // Unused optional outputs still get memory, under a private name.
                outIds.append(try newValue(name.isEmpty ? "\(node.name):unused\(outIds.count)" : name, t, nil))
            }
            steps.append(Step(nodeIndex: index, inputs: ins, outputs: outIds, isAlias: false))
        }

        var outputIds: [Int] = []
        for o in graph.outputs {
            guard let id = ids[o.name] else {
                throw RuntimeError.badNode(node: o.name, op: "graph", what: "graph output '\(o.name)' is never produced")
            }
            outputIds.append(id)
        }

        // Lifetimes in step indices; graph outputs live to the end.
        let n = names.count
        var isInput = [Bool](repeating: false, count: n)
        for id in inputIds { isInput[id] = true }
        var root = Array(0..<n)   // alias root of each value
        var steps2 = steps
        for s in steps2.indices {
            let node = graph.nodes[steps2[s].nodeIndex]
            if node.op.isView, let src = steps2[s].inputs.first ?? nil, values[src] == nil, !isInput[src],
               types[src].byteCount == types[steps2[s].outputs[0]].byteCount {
                root[steps2[s].outputs[0]] = root[src]
                steps2[s].isAlias = true
            }
        }
        steps = steps2
        var first = [Int](repeating: Int.max, count: n)
        var last = [Int](repeating: -1, count: n)
        for (s, step) in steps.enumerated() {
            for o in step.outputs { let r = root[o]; first[r] = min(first[r], s); last[r] = max(last[r], s) }
            for case let i? in step.inputs { let r = root[i]; last[r] = max(last[r], s) }
        }
        for id in outputIds { last[root[id]] = steps.count }

        // Greedy placement, largest first: lowest offset that overlaps no live neighbour.
        var offsets = [Int](repeating: -1, count: n)
        let arenaValues = (0..<n).filter { root[$0] == $0 && first[$0] != Int.max }
        let order = arenaValues.sorted { (types[$0].byteCount, -$0) > (types[$1].byteCount, -$1) }
        var placed: [(lo: Int, hi: Int, first: Int, last: Int)] = []
        var arenaBytes = 0
        for v in order {
            let size = (max(types[v].byteCount, 1) + Plan.alignment - 1) / Plan.alignment * Plan.alignment
            let conflicts = placed.filter { !($0.last < first[v] || last[v] < $0.first) }.sorted { $0.lo < $1.lo }
            var offset = 0
            for c in conflicts {
                if offset + size <= c.lo { break }
                offset = max(offset, c.hi)
            }
            offsets[v] = offset
            placed.append((offset, offset + size, first[v], last[v]))
            arenaBytes = max(arenaBytes, offset + size)
        }

        var slots: [Slot] = []
        slots.reserveCapacity(n)
        var inputIndex: [Int: Int] = [:]
        for (k, id) in inputIds.enumerated() { inputIndex[id] = k }
        for v in 0..<n {
            if let t = values[v] { slots.append(.constant(t)) }
            else if let k = inputIndex[v] { slots.append(.input(k)) }
            else { slots.append(.arena(offset: max(offsets[root[v]], 0))) }
        }

        var workspace = 0
        for step in steps {
            let node = graph.nodes[step.nodeIndex]
            workspace = max(workspace, node.op.workspaceBytes(step.inputs.map { $0.map { types[$0] } }, step.outputs.map { types[$0] }))
        }

        if let limit = maxMemoryBytes, arenaBytes > limit - min(workspace, limit) {
            func mb(_ b: Int) -> String { NumberText.fixed(Double(b) / 1e6, digits: 1) + " MB" }
            throw RuntimeError.unsupported("graph '\(graph.name)' needs \(mb(arenaBytes + workspace)) of working memory for these input shapes (arena \(mb(arenaBytes)), workspace \(mb(workspace))), above the limit of \(mb(limit))")
        }

        self.names = names
        self.types = types
        self.slots = slots
        self.steps = steps
        self.inputIds = inputIds
        self.outputIds = outputIds
        self.arenaBytes = arenaBytes
        self.workspaceBytes = workspace
        self.symbols = symbols
        self.foldedNodeCount = folded
    }

    /// Runs a Shape node's own kernel on a value known only by its type and shape.
    static func evaluateShape(_ node: Node, _ x: TypedShape) throws -> [Tensor] {
        let outTypes = try node.op.inferOutputs([ShapeInput(dtype: x.dtype, shape: x.shape)], node: node.name)
        let outs = outTypes.map { Tensor(dtype: $0.dtype, shape: $0.shape) }
        var nothing: UInt64 = 0
        try withUnsafeMutableBytes(of: &nothing) { raw in
            let view = TensorView(dtype: x.dtype, shape: x.shape, data: raw.baseAddress!)
            try node.op.run([view], outs.map(TensorView.init), ExecContext(threads: 1), node: node.name)
        }
        return outs
    }

    /// Shape of a value by name, when the plan knows it.
    public func type(of name: String) -> TypedShape? {
        guard let i = names.firstIndex(of: name) else { return nil }
        return types[i]
    }
}
