import CKernels

/// Stores the weights of fp32 Linear nodes in the 32-column panels `lseg_panel_linear` reads
/// (`LinearAttrs.weightPanels`), once at load, on CPUs where its AVX-512 tile runs: the weights
/// are then read in the order the kernel consumes them and need no packing per call, and threads
/// share one packing of the input rows instead of OpenBLAS packing it once per thread. Elsewhere
/// (AVX2, NEON) the graph is left as it is and OpenBLAS runs the stored layout.
///
/// A weight is packed only when every reader is a Linear taking it as its weight with the same
/// transB, so one packed copy serves them all, and the stored layout is then no longer needed:
/// the model given keeps no reference to it and it is freed as soon as it is replaced.
public enum PanelLinearRewrite {
    /// Smaller products stay on sgemm (a panel of 32 columns and a few depth steps would be
    /// mostly packing and call overhead).
    public static let minimumDepth = 64
    public static let minimumColumns = 64

    /// Packs the eligible weights of every graph in place. `force` packs even where the fast
    /// tile does not run (tests of the scalar path).
    public static func apply(_ model: inout Model, threads: Int, force: Bool = false) {
        guard force || PanelLinearKernels.fast else { return }
        // Weights the model alone holds are re-laid out in their own buffer through one scratch
        // copy: a new buffer per weight cost more in page faults than the packing itself
        // (0.18 of 0.24 s for vitb32's 340 MB).
        var scratch: AlignedAllocation?, scratchBytes = 0
        for gi in model.graphs.indices {
            for (name, transB, readers) in candidates(model.graphs[gi]) {
                // Taken out, packed, put back: the stored layout's last reference goes with `w`,
                // so peak memory grows by at most one weight, not by all of them.
                guard var w = model.graphs[gi].initializers.removeValue(forKey: name) else { continue }
                let (k, n) = transB ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
                let width = PanelLinearKernels.columns, panels = (n + width - 1) / width
                let source: UnsafeRawPointer, storage: TensorStorage
                if n % width == 0, w.storage.isPrivateHeap, isKnownUniquelyReferenced(&w.storage) {
                    if scratchBytes < w.byteCount { (scratch, scratchBytes) = (AlignedAllocation(byteCount: w.byteCount), w.byteCount) }
                    scratch!.pointer.copyMemory(from: w.data, byteCount: w.byteCount)
                    (source, storage) = (UnsafeRawPointer(scratch!.pointer), w.storage)
                } else {
                    let bytes = panels * k * width * MemoryLayout<Float>.size, buffer = AlignedAllocation(byteCount: bytes)
                    (source, storage) = (UnsafeRawPointer(w.data), TensorStorage(borrowing: buffer.pointer, byteCount: bytes, owner: buffer))
                }
                let packed = Tensor(dtype: .float32, shape: [panels, k, width], storage: storage)
                pack(source.assumingMemoryBound(to: Float.self), transB: transB, k: k, n: n, into: packed, threads: threads)
                model.graphs[gi].initializers[name] = packed
                for i in readers {
                    guard case .linear(var a) = model.graphs[gi].nodes[i].op else { continue }
                    a.transB = false
                    a.weightPanels = n
                    model.graphs[gi].nodes[i].op = .linear(a)
                }
            }
        }
    }

    /// The graph with its eligible weights packed (for graphs made at run time, such as a
    /// runner's copy with float16 weights widened).
    public static func apply(_ g: consuming Graph, threads: Int, force: Bool = false) -> Graph {
        var model = Model(graphs: [consume g])
        apply(&model, threads: threads, force: force)
        return model.graphs[0]
    }

    /// Names of the float32 2-D initializers read only as the weight of Linear nodes with one
    /// transB, K and N at least the minimums; with that transB and the indices of those nodes.
    /// Sorted by name, so packing order is fixed.
    static func candidates(_ g: Graph) -> [(name: String, transB: Bool, readers: [Int])] {
        var readers: [String: [Int]] = [:]
        for (i, node) in g.nodes.enumerated() {
            for name in Set(node.inputs) where !name.isEmpty && g.initializers[name] != nil { readers[name, default: []].append(i) }
        }
        let reserved = Set(g.inputs.map(\.name) + g.outputs.map(\.name))
        var found: [(name: String, transB: Bool, readers: [Int])] = []
        for (name, nodes) in readers.sorted(by: { $0.key < $1.key }) where !reserved.contains(name) {
            guard let w = g.initializers[name], w.dtype == .float32, w.shape.count == 2 else { continue }
            var transB: Bool?
            for i in nodes {
                let node = g.nodes[i]
                guard case .linear(let a) = node.op, a.weightPanels == nil, transB == nil || transB == a.transB,
                      node.inputs.count > 1, node.inputs[1] == name,
                      node.inputs.enumerated().allSatisfy({ $0.offset == 1 || $0.element != name }) else {
                    transB = nil
                    break
                }
                transB = a.transB
            }
            guard let t = transB else { continue }
            let (k, n) = t ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
            if k >= minimumDepth, n >= minimumColumns { found.append((name, t, nodes)) }
        }
        return found
    }

    /// `w` ([k, n], or [n, k] when transB) into `out` as [ceil(n / 32), k, 32] panels.
    static func pack(_ w: UnsafePointer<Float>, transB: Bool, k: Int, n: Int, into out: Tensor, threads: Int) {
        let dst = out.data.assumingMemoryBound(to: Float.self)
        ExecContext(threads: threads).parallelFor(out.shape[0], costPerItem: k * PanelLinearKernels.columns) { r in
            lseg_panel_pack_weights(w, transB ? 1 : 0, k, n, r.lowerBound, r.upperBound, dst)
        }
    }
}
