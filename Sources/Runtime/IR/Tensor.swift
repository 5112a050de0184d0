import Glibc

/// Bytes behind a tensor: owned (64-byte aligned, freed on deinit) or borrowed from an owner
/// that keeps them alive, such as a memory-mapped pack.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let owned: Bool

    public static let alignment = 64

    /// Allocates `byteCount` zeroed bytes, 64-byte aligned.
    public init(byteCount: Int) {
        let n = max(byteCount, 1)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: TensorStorage.alignment)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: n)
        self.byteCount = byteCount
        owner = nil
        owned = true
    }

    /// Copies `bytes` into a new aligned buffer.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(byteCount: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 { pointer.copyMemory(from: base, byteCount: bytes.count) }
    }

    /// True when the bytes are this process's own heap memory (allocated here, or a decoded
    /// weight's buffer), false when borrowed from a mapped file or a caller: only then may a
    /// sole holder rewrite them in place.
    var isPrivateHeap: Bool { owned || owner is AlignedAllocation }

    /// Borrows memory that `owner` keeps alive (for example a mapped file).
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.owner = owner
        owned = false
    }

    deinit {
        if owned { pointer.deallocate() }
    }
}

/// Quantization parameters carried by an int8/uint8 tensor: per tensor (axis nil, one scale)
/// or per channel along `axis`.
public struct QuantParams: Sendable, Codable, Equatable {
    public var scales: [Float]
    public var zeroPoints: [Int32]
    public var axis: Int?

    public init(scales: [Float], zeroPoints: [Int32], axis: Int? = nil) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }
}

/// A dense, C-ordered tensor with a concrete shape.
public struct Tensor: Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var storage: TensorStorage
    public var quant: QuantParams?

    /// A zero-filled tensor.
    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
        storage = TensorStorage(byteCount: Tensor.elementCount(shape) * dtype.byteSize)
    }

    public init(dtype: DType, shape: [Int], storage: TensorStorage, quant: QuantParams? = nil) {
        precondition(storage.byteCount >= Tensor.elementCount(shape) * dtype.byteSize, "storage too small for shape")
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.quant = quant
    }

    /// A tensor holding `scalars`, which must match `dtype`'s size.
    public init<T>(dtype: DType, shape: [Int], scalars: [T]) {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "element type does not match \(dtype)")
        precondition(scalars.count == Tensor.elementCount(shape), "\(scalars.count) values for shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        storage = scalars.withUnsafeBytes { TensorStorage(copying: $0) }
    }

    public static func float32(_ values: [Float], shape: [Int]) -> Tensor { Tensor(dtype: .float32, shape: shape, scalars: values) }
    public static func int64(_ values: [Int64], shape: [Int]) -> Tensor { Tensor(dtype: .int64, shape: shape, scalars: values) }

    public var count: Int { Tensor.elementCount(shape) }
    public var byteCount: Int { count * dtype.byteSize }
    public var rank: Int { shape.count }
    public var data: UnsafeMutableRawPointer { storage.pointer }

    /// The elements as a Swift array of `T` (whose size must match the dtype).
    public func scalars<T>(as type: T.Type = T.self) -> [T] {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "element type does not match \(dtype)")
        let n = count
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: storage.pointer, byteCount: n * dtype.byteSize) }
            initialized = n
        }
    }

    /// Integer elements widened to Int (for shape-like tensors of any integer dtype).
    public func integers() -> [Int]? {
        switch dtype {
        case .int64: return scalars(as: Int64.self).map { Int($0) }
        case .int32: return scalars(as: Int32.self).map { Int($0) }
        case .uint8: return scalars(as: UInt8.self).map { Int($0) }
        case .int8: return scalars(as: Int8.self).map { Int($0) }
        case .bool: return scalars(as: UInt8.self).map { Int($0) }
        case .int16: return scalars(as: Int16.self).map { Int($0) }
        case .uint16: return scalars(as: UInt16.self).map { Int($0) }
        case .uint32: return scalars(as: UInt32.self).map { Int($0) }
        case .uint64: return scalars(as: UInt64.self).map { Int(truncatingIfNeeded: $0) }
        case .float32, .float16, .float64, .bfloat16: return nil
        }
    }

    /// Raw bytes, read-only.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: byteCount))
    }

    /// Bit-exact equality of dtype, shape and bytes.
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape && memcmp(storage.pointer, other.storage.pointer, byteCount) == 0
    }

    /// Product of dims; shapes reaching here were checked for overflow by their reader.
    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape { n *= d }
        return n
    }

    /// Element count with overflow and sign checks, for shapes that come from files.
    public static func checkedElementCount(_ shape: [Int], limit: Int = Int(Int32.max) * 16) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            guard !o, m <= limit else { return nil }
            n = m
        }
        return n
    }
}
