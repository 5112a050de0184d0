import Glibc
import Synchronization

/// A dtype and a concrete shape.
public struct TypedShape: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    public init(_ dtype: DType, _ shape: [Int]) { self.dtype = dtype; self.shape = shape }
    public var count: Int { Tensor.elementCount(shape) }
    public var byteCount: Int { count * dtype.byteSize }
    public var description: String { "\(dtype)\(shape)" }
}

/// What shape inference knows of an input: its type and shape, and its value when that is
/// known before running (an initializer, or the result of a shape sub-graph).
public struct ShapeInput: Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var value: Tensor?
    public init(dtype: DType, shape: [Int], value: Tensor? = nil) { self.dtype = dtype; self.shape = shape; self.value = value }
    public init(_ t: Tensor) { dtype = t.dtype; shape = t.shape; value = t }
    public var typed: TypedShape { TypedShape(dtype, shape) }
}

/// A kernel's view of a tensor: type, shape and memory (arena, weights or caller buffers).
public struct TensorView: @unchecked Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var data: UnsafeMutableRawPointer
    public var quant: QuantParams?
    public init(dtype: DType, shape: [Int], data: UnsafeMutableRawPointer, quant: QuantParams? = nil) {
        self.dtype = dtype; self.shape = shape; self.data = data; self.quant = quant
    }
    public init(_ t: Tensor) { dtype = t.dtype; shape = t.shape; data = t.data; quant = t.quant }
    public var count: Int { Tensor.elementCount(shape) }
    public var byteCount: Int { count * dtype.byteSize }
    public func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> { data.assumingMemoryBound(to: T.self) }
}

/// A kernel's complaint about its inputs; the dispatcher adds the node name and op.
public struct OpError: Error, CustomStringConvertible {
    public var what: String
    public init(_ what: String) { self.what = what }
    public var description: String { what }
}

/// Per-run resources a kernel may use: the thread budget and a planned scratch area.
public final class ExecContext: @unchecked Sendable {
    public let threads: Int
    public var workspace: UnsafeMutableRawPointer?
    public var workspaceBytes: Int
    /// Where kernels keep weights transformed once (nil: transform on every call, as constant
    /// folding and tests do). Kernels ask through `prepared(forInput:)`.
    public let prepared: PreparedWeights?
    /// Bit i set: input i of the node being run is one of the graph's initializers, whose bytes
    /// never change and whose address is not reused while the model lives, so a layout prepared
    /// from its address stays valid. Session sets it per step; the default (all set) serves
    /// callers that pass only such weights.
    public var constantInputs: UInt64 = .max

    /// The prepared-weights store for input `index`, or nil when that input is computed at run
    /// time (its address may hold other values on the next run: transform it per call).
    public func prepared(forInput index: Int) -> PreparedWeights? {
        index >= 0 && index < 64 && constantInputs & (1 << UInt64(index)) != 0 ? prepared : nil
    }

    public init(threads: Int, workspace: UnsafeMutableRawPointer? = nil, workspaceBytes: Int = 0,
                prepared: PreparedWeights? = nil) {
        self.threads = max(1, threads)
        self.workspace = workspace
        self.workspaceBytes = workspaceBytes
        self.prepared = prepared
    }

    /// A context for a kernel running inside another that keeps its own data in the first `bytes`
    /// of the workspace: the rest of the workspace, the same threads and prepared weights. A new
    /// instance, since this one is shared by every step of a session.
    public func workspace(after bytes: Int) -> ExecContext {
        let inner = ExecContext(threads: threads, workspace: workspace.map { $0 + bytes },
                                workspaceBytes: Swift.max(0, workspaceBytes - bytes), prepared: prepared)
        inner.constantInputs = constantInputs
        return inner
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous chunks.
    /// Small jobs (count * costPerItem under ~32k) run on the calling thread.
    public func parallelFor(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        run(count, chunks: threads, costPerItem: costPerItem, body)
    }

    /// `body` over `0..<count` in at most `chunks` contiguous chunks on the pool (inline when small).
    private func run(_ count: Int, chunks: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min(chunks, count)
        if threads <= 1 || chunks <= 1 || count * costPerItem < 32_768 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // Kernels capture raw pointers into disjoint output ranges; the chunks never overlap.
            nonisolated(unsafe) let body = body
            WorkerPool.shared.perform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// Chunks per thread of the balanced loops: enough that a thread slowed by another process
    /// (a shared machine, a small core of a big.LITTLE board) leaves part of its share to the
    /// others, few enough that per-chunk overhead stays small. An even split runs at the slowest
    /// thread's pace: with a busy loop beside it on 2 cores, vitb32's image graph ran 1.98x slower
    /// (ONNX Runtime 1.75x). Measured since (busy loop pinned to one core, medians of 5): 898 ->
    /// 876 ms, within the machine's noise; no cost measured on a quiet machine.
    public static let balancedChunksPerThread = 4

    /// Like `parallelFor`, but in up to `threads * balancedChunksPerThread` chunks, each taken by
    /// whichever thread is free. Only for loops whose chunks need no per-thread scratch.
    public func parallelForBalanced(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        run(count, chunks: threads * Self.balancedChunksPerThread, costPerItem: costPerItem, body)
    }

    /// Runs `slots` workers (each with its own scratch slot, index 0..<slots) that take the items
    /// 0..<count one at a time until none is left: `body(slot, item)`. A slowed thread takes fewer
    /// items instead of holding up the loop with a fixed share.
    public func parallelItems(_ count: Int, slots: Int, costPerItem: Int = 1, _ body: (_ slot: Int, _ item: Int) -> Void) {
        guard count > 0 else { return }
        let slots = Swift.max(1, Swift.min(slots, threads, count))
        if slots == 1 || count * costPerItem < 32_768 {
            for i in 0..<count { body(0, i) }
            return
        }
        let next = WorkItems()
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            WorkerPool.shared.perform(iterations: slots) { slot in
                while let item = next.take(below: count) { body(slot, item) }
            }
        }
    }
}

/// The next item of a balanced loop.
final class WorkItems: Sendable {
    private let next = Atomic<Int>(0)
    func take(below count: Int) -> Int? {
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return i < count ? i : nil
    }
}

/// The families that implement ops, one file (and one kernel file) each.
public enum OpFamily: String, Sendable, CaseIterable {
    case elementwise, reduction, normalization, movement, shapeOps, linearAlgebra, convolution, pooling, resize, quantization, int8
    case projection
    case attention
}

extension Op {
    public var family: OpFamily {
        switch self {
        case .add, .sub, .mul, .div, .pow, .mod, .equal, .less, .greater, .lessOrEqual, .greaterOrEqual,
             .and, .or, .xor, .max, .min, .where, .sqrt, .erf, .sigmoid, .relu, .tanh, .exp, .log, .neg,
             .abs, .reciprocal, .not, .floor, .ceil, .sin, .cos, .leakyRelu, .gelu, .quickGelu, .clip,
             .cast, .identity:
            return .elementwise
        case .reduce, .argMax: return .reduction
        case .batchNorm, .layerNorm, .softmax: return .normalization
        case .transpose, .reshape, .flatten, .concat, .slice, .split, .gather, .gatherND, .expand,
             .unsqueeze, .squeeze, .pad:
            return .movement
        case .range, .constantOfShape, .shape: return .shapeOps
        case .matMul, .gemm, .linear: return .linearAlgebra
        case .conv, .convTranspose: return .convolution
        case .maxPool, .averagePool: return .pooling
        case .resize: return .resize
        case .quantizeLinear, .dequantizeLinear: return .quantization
        case .qLinear, .qConv, .qConvTranspose: return .int8
        case .normalizedProjection: return .projection
        case .attention: return .attention
        }
    }

    /// Indices of inputs whose values (not just shapes) determine the output shapes. Plan
    /// evaluates them before running; Convert folds them when they are constant.
    public var valueInputs: [Int] {
        switch self {
        case .reshape, .expand, .unsqueeze, .squeeze, .split: return [1]
        case .constantOfShape: return [0]
        case .slice: return [1, 2, 3, 4]
        case .range: return [0, 1, 2]
        case .resize: return [1, 2, 3]
        case .pad: return [1, 2, 3]
        case .reduce: return [1]
        case .add, .sub, .mul, .div, .pow, .mod, .equal, .less, .greater, .lessOrEqual, .greaterOrEqual,
             .and, .or, .xor, .max, .min, .where, .sqrt, .erf, .sigmoid, .relu, .tanh, .exp, .log, .neg,
             .abs, .reciprocal, .not, .floor, .ceil, .sin, .cos, .leakyRelu, .gelu, .quickGelu, .clip,
             .cast, .identity, .matMul, .gemm, .linear, .conv, .convTranspose, .batchNorm, .layerNorm,
             .softmax, .maxPool, .averagePool, .argMax, .transpose, .flatten, .concat, .gather, .gatherND,
             .shape, .quantizeLinear, .dequantizeLinear, .qLinear, .qConv, .qConvTranspose, .normalizedProjection,
             .attention:
            return []
        }
    }

    /// Output aliases input 0's memory (same bytes, new shape): Plan may skip the copy.
    public var isView: Bool {
        switch self {
        case .reshape, .flatten, .unsqueeze, .squeeze, .identity: return true
        default: return false
        }
    }

    /// Output types and shapes for inputs of known types and shapes (nil = omitted optional input).
    public func inferOutputs(_ inputs: [ShapeInput?], node: String) throws -> [TypedShape] {
        do {
            switch family {
            case .elementwise: return try Elementwise.infer(self, inputs)
            case .reduction: return try Reduction.infer(self, inputs)
            case .normalization: return try Normalization.infer(self, inputs)
            case .movement: return try Movement.infer(self, inputs)
            case .shapeOps: return try ShapeOps.infer(self, inputs)
            case .linearAlgebra: return try LinearAlgebra.infer(self, inputs)
            case .convolution: return try Convolution.infer(self, inputs)
            case .pooling: return try Pooling.infer(self, inputs)
            case .resize: return try ResizeOp.infer(self, inputs)
            case .quantization: return try Quantization.infer(self, inputs)
            case .int8: return try Int8Ops.infer(self, inputs)
            case .projection: return try NormalizedProjection.infer(self, inputs)
            case .attention: return try Attention.infer(self, inputs)
            }
        } catch let e as OpError {
            throw RuntimeError.badNode(node: node, op: typeName, what: e.what)
        }
    }

    /// Scratch bytes `run` needs for these shapes (im2col buffers and the like).
    public func workspaceBytes(_ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int {
        switch family {
        case .linearAlgebra: return LinearAlgebra.workspaceBytes(self, inputs, outputs)
        case .convolution: return Convolution.workspaceBytes(self, inputs, outputs)
        case .int8: return Int8Ops.workspaceBytes(self, inputs, outputs)
        case .projection: return NormalizedProjection.workspaceBytes(self, inputs, outputs)
        case .attention: return Attention.workspaceBytes(self, inputs, outputs)
        case .elementwise, .reduction, .normalization, .movement, .shapeOps, .pooling, .resize, .quantization:
            return 0
        }
    }

    /// Runs the op: reads `inputs`, writes `outputs` (already sized by `inferOutputs`).
    public func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext, node: String) throws {
        do {
            switch family {
            case .elementwise: try Elementwise.run(self, inputs, outputs, ctx)
            case .reduction: try Reduction.run(self, inputs, outputs, ctx)
            case .normalization: try Normalization.run(self, inputs, outputs, ctx)
            case .movement: try Movement.run(self, inputs, outputs, ctx)
            case .shapeOps: try ShapeOps.run(self, inputs, outputs, ctx)
            case .linearAlgebra: try LinearAlgebra.run(self, inputs, outputs, ctx)
            case .convolution: try Convolution.run(self, inputs, outputs, ctx)
            case .pooling: try Pooling.run(self, inputs, outputs, ctx)
            case .resize: try ResizeOp.run(self, inputs, outputs, ctx)
            case .quantization: try Quantization.run(self, inputs, outputs, ctx)
            case .int8: try Int8Ops.run(self, inputs, outputs, ctx)
            case .projection: try NormalizedProjection.run(self, inputs, outputs, ctx)
            case .attention: try Attention.run(self, inputs, outputs, ctx)
            }
        } catch let e as OpError {
            throw RuntimeError.badNode(node: node, op: typeName, what: e.what)
        }
    }
}

/// Eager evaluation: infer, allocate, run. Used by constant folding, plan-time shape
/// sub-graphs and tests; the same kernels as `Session.run`.
public enum Eval {
    public static func evaluate(_ op: Op, _ inputs: [Tensor?], node: String = "eval", threads: Int = 1) throws -> [Tensor] {
        let outTypes = try op.inferOutputs(inputs.map { $0.map(ShapeInput.init) }, node: node)
        let outs = outTypes.map { Tensor(dtype: $0.dtype, shape: $0.shape) }
        let ws = op.workspaceBytes(inputs.map { $0.map { TypedShape($0.dtype, $0.shape) } }, outTypes)
        let scratch = ws > 0 ? TensorStorage(byteCount: ws) : nil
        let ctx = ExecContext(threads: threads, workspace: scratch?.pointer, workspaceBytes: ws)
        try op.run(inputs.map { $0.map(TensorView.init) }, outs.map(TensorView.init), ctx, node: node)
        return outs
    }
}
