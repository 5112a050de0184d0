import CKernels
import Glibc

/// `.attention` kernels: the fused C kernel (per head and block of query rows, scores kept in a
/// per-worker scratch) and the unfused reference the tests compare it with.
enum AttentionKernels {
    /// Work split and scratch geometry, shared by the plan (workspace size) and the run.
    struct Tiling {
        /// Floats of one worker's scratch: K^T and V panels of a head plus a scores block.
        var slotFloats: Int
        /// Workers the workspace has room for.
        var slots: Int

        init(_ s: Attention.Shapes) {
            slotFloats = Int(lseg_attention_workspace_floats(s.tokens, s.headDim))
            slots = max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 16, s.batch * s.heads * max(s.tokens, 1)))
        }

        var slotBytes: Int { slotFloats * MemoryLayout<Float>.size }
        var workspaceBytes: Int { slots * slotBytes }
    }

    /// A task is a contiguous range of query rows of one (batch, head) pair. Heads are split into
    /// row ranges only when there are fewer pairs than workers, since each task packs its head's
    /// K and V once.
    static func tasks(_ s: Attention.Shapes, workers: Int) -> (perPair: Int, count: Int) {
        let pairs = s.batch * s.heads
        let perPair = pairs >= workers ? 1 : min(max(s.tokens, 1), (workers + pairs - 1) / pairs)
        return (perPair, pairs * perPair)
    }

    static func run(_ s: Attention.Shapes, scale: Float, qkv: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                    _ ctx: ExecContext, variant: Int32 = 2) throws {
        if s.batch == 0 || s.tokens == 0 || s.headDim == 0 { return }
        let tiling = Tiling(s)
        guard let ws = ctx.workspace, ctx.workspaceBytes >= tiling.slotBytes else {
            throw OpError("workspace of \(ctx.workspaceBytes) bytes is smaller than one worker's \(tiling.slotBytes)")
        }
        let slots = min(ctx.threads, ctx.workspaceBytes / tiling.slotBytes)
        let (perPair, count) = tasks(s, workers: slots)
        let workers = min(slots, count)
        let workspace = ws.assumingMemoryBound(to: Float.self)
        // Two products of 2 N D flops per query row, plus the exponentials.
        let costPerTask = (s.tokens / perPair + 1) * s.tokens * (4 * s.headDim + 8)
        // Each worker (own scratch slot) takes tasks until none is left, so a thread slowed by
        // another process takes fewer heads instead of holding up the op.
        ctx.parallelItems(count, slots: workers, costPerItem: costPerTask) { worker, t in
            let scratch = workspace + worker * tiling.slotFloats
            let pair = t / perPair, part = t % perPair
            let r0 = s.tokens * part / perPair, r1 = s.tokens * (part + 1) / perPair
            lseg_attention_f32_variant(variant, qkv, y, s.tokens, s.heads, s.headDim, scale,
                                       pair / s.heads, pair % s.heads, r0, r1, scratch)
        }
    }

    /// The unfused composition the pass replaces, op by op with the runtime's own kernels:
    /// Reshape to [B, N, 3, H, D], Transpose to [3, B, H, N, D], Gather q, k, v, MatMul(q, k^T),
    /// Mul(scale), Softmax(last axis), MatMul(p, v), Transpose to [B, N, H, D], Reshape to [B, N, C].
    static func reference(heads: Int, scale: Float, qkv: Tensor) throws -> Tensor {
        let s = try Attention.shapes(AttentionAttrs(heads: heads, scale: scale), qkv: qkv.shape)
        func one(_ op: Op, _ inputs: [Tensor?]) throws -> Tensor { try Eval.evaluate(op, inputs)[0] }
        let r = try one(.reshape(allowZero: false), [qkv, .int64([s.batch, s.tokens, 3, s.heads, s.headDim].map(Int64.init), shape: [5])])
        let t = try one(.transpose(perm: [2, 0, 3, 1, 4]), [r])
        let q = try one(.gather(axis: 0), [t, .int64([0], shape: [])])
        let k = try one(.gather(axis: 0), [t, .int64([1], shape: [])])
        let v = try one(.gather(axis: 0), [t, .int64([2], shape: [])])
        let kt = try one(.transpose(perm: [0, 1, 3, 2]), [k])
        let scores = try one(.mul, [try one(.matMul, [q, kt]), .float32([scale], shape: [])])
        let p = try one(.softmax(axis: -1), [scores])
        let o = try one(.transpose(perm: [0, 2, 1, 3]), [try one(.matMul, [p, v])])
        return try one(.reshape(allowZero: false), [o, .int64([s.batch, s.tokens, s.width].map(Int64.init), shape: [3])])
    }
}
