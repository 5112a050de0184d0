import Glibc

/// Weights transformed once for a kernel (int8 GEMM panels, Winograd-domain filters, ...) and
/// reused by every run. Keyed by the constant's address, which is stable for the model's
/// lifetime, and a kind string naming the layout (include every parameter the layout depends
/// on). One instance belongs to one model (ModelRunner owns it) and is shared by all of its
/// Sessions and threads.
public final class PreparedWeights: @unchecked Sendable {
    private struct Key: Hashable {
        let kind: String
        let address: UInt
    }

    private let lock = PThreadLock()
    private var store: [Key: TensorStorage] = [:]
    private var total = 0

    public init() {}

    /// Bytes held by all prepared layouts.
    public var byteCount: Int {
        lock.lock(); defer { lock.unlock() }
        return total
    }

    /// The prepared layout of `weight` for `kind`, made by `fill` into `byteCount` zeroed,
    /// 64-byte aligned bytes on first use. The returned pointer lives as long as this object.
    /// Concurrent callers for the same key wait for the first one's `fill`.
    public func layout(kind: String, of weight: UnsafeRawPointer, byteCount: Int,
                       fill: (UnsafeMutableRawPointer) throws -> Void) rethrows -> UnsafeRawPointer {
        let key = Key(kind: kind, address: UInt(bitPattern: weight))
        lock.lock(); defer { lock.unlock() }
        if let hit = store[key] {
            precondition(hit.byteCount == byteCount, "prepared layout \(kind) requested with two sizes")
            return UnsafeRawPointer(hit.pointer)
        }
        let storage = TensorStorage(byteCount: byteCount)
        try fill(storage.pointer)
        store[key] = storage
        total += byteCount
        return UnsafeRawPointer(storage.pointer)
    }
}
