import Glibc

/// Runs a Plan. Owns the arena and workspace (allocated once, here); `run` allocates nothing
/// but the returned output tensors. A Session is used by one thread at a time; several
/// Sessions may share one Plan and its weights.
public final class Session: @unchecked Sendable {
    public let plan: Plan
    public let threads: Int
    private let arena: TensorStorage
    private let workspace: TensorStorage?
    private let context: ExecContext
    /// Views per step, resolved once; graph-input views are patched per run.
    private var stepInputs: [[TensorView?]]
    private var stepOutputs: [[TensorView]]
    /// (step, input position, graph input index) to patch per run.
    private let inputPatches: [(step: Int, position: Int, input: Int)]
    /// Per step: which inputs are constants (ExecContext.constantInputs).
    private let constantMasks: [UInt64]

    /// Called after each step with the node and its outputs (for --trace and compare).
    public var observer: ((Node, [TensorView]) -> Void)?

    /// `prepared` holds weights transformed once for kernels; pass the model's (ModelRunner's)
    /// so Sessions share it, or nil to transform per run.
    public init(plan: Plan, threads: Int = ProcessorCount.active,
                prepared: PreparedWeights? = PreparedWeights()) {
        self.plan = plan
        self.threads = max(1, threads)
        arena = TensorStorage(byteCount: plan.arenaBytes)
        workspace = plan.workspaceBytes > 0 ? TensorStorage(byteCount: plan.workspaceBytes) : nil
        context = ExecContext(threads: self.threads, workspace: workspace?.pointer, workspaceBytes: plan.workspaceBytes,
                              prepared: prepared)
        let base = arena.pointer
        func view(_ id: Int) -> TensorView {
            let t = plan.types[id]
            switch plan.slots[id] {
            case .constant(let c): return TensorView(c)
            case .arena(let offset): return TensorView(dtype: t.dtype, shape: t.shape, data: base + offset)
            case .input: return TensorView(dtype: t.dtype, shape: t.shape, data: base) // patched per run
            }
        }
        var patches: [(Int, Int, Int)] = []
        stepInputs = []
        stepOutputs = []
        for (s, step) in plan.steps.enumerated() {
            var ins: [TensorView?] = []
            for (p, id) in step.inputs.enumerated() {
                guard let id else { ins.append(nil); continue }
                if case .input(let k) = plan.slots[id] { patches.append((s, p, k)) }
                ins.append(view(id))
            }
            stepInputs.append(ins)
            stepOutputs.append(step.outputs.map(view))
        }
        inputPatches = patches
        // Only the graph's own initializers qualify: they live as long as the model, and so as
        // long as a model-wide PreparedWeights. A value folded while planning (a Cast of float16
        // weights, say) dies with its plan, and a later plan may get a different weight at the
        // same address, which an address-keyed layout would then serve stale.
        constantMasks = plan.steps.map { step in
            var mask: UInt64 = 0
            for (p, id) in step.inputs.enumerated() where p < 64 {
                if let id, case .constant(let c) = plan.slots[id],
                   let initializer = plan.graph.initializers[plan.names[id]], initializer.data == c.data {
                    mask |= 1 << UInt64(p)
                }
            }
            return mask
        }
    }

    /// Runs the graph on `inputs` (graph input name -> tensor, shapes as planned) and returns
    /// the graph outputs by name.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        var bound: [Tensor] = []
        bound.reserveCapacity(plan.inputIds.count)
        for id in plan.inputIds {
            let name = plan.names[id]
            guard let t = inputs[name] else { throw RuntimeError.badInput(name: name, what: "missing") }
            let want = plan.types[id]
            guard t.dtype == want.dtype else { throw RuntimeError.badInput(name: name, what: "dtype \(t.dtype), graph wants \(want.dtype)") }
            guard t.shape == want.shape else { throw RuntimeError.badInput(name: name, what: "shape \(t.shape), planned for \(want.shape)") }
            bound.append(t)
        }
        for p in inputPatches { stepInputs[p.step][p.position]!.data = bound[p.input].data }

        for (s, step) in plan.steps.enumerated() {
            let node = plan.graph.nodes[step.nodeIndex]
            if !step.isAlias {
                context.constantInputs = constantMasks[s]
                try node.op.run(stepInputs[s], stepOutputs[s], context, node: node.name)
            }
            observer?(node, stepOutputs[s])
        }

        var result: [String: Tensor] = [:]
        for id in plan.outputIds {
            let t = plan.types[id]
            let out = Tensor(dtype: t.dtype, shape: t.shape)
            let src: UnsafeRawPointer
            switch plan.slots[id] {
            case .constant(let c): src = UnsafeRawPointer(c.data)
            case .arena(let offset): src = UnsafeRawPointer(arena.pointer + offset)
            case .input(let k): src = UnsafeRawPointer(bound[k].data)
            }
            if t.byteCount > 0 { out.data.copyMemory(from: src, byteCount: t.byteCount) }
            result[plan.names[id]] = out
        }
        withExtendedLifetime(bound) {}
        return result
    }
}
