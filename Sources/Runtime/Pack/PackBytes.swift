/// Appends little-endian fields to a byte array (header and directory encoding).
struct LittleEndianWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func append<S: Sequence>(_ s: S) where S.Element == UInt8 { bytes.append(contentsOf: s) }
    mutating func pad(toMultipleOf m: Int) { while bytes.count % m != 0 { bytes.append(0) } }

    /// Overwrites 8 bytes at `offset` (for fields known only after the rest is laid out).
    mutating func set(u64 v: UInt64, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { bytes[offset + i] = $0[i] } }
    }
}

/// Reads little-endian fields from untrusted bytes; every read is bounds-checked and a failure
/// names the section being read.
struct CheckedReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let fail: (String) -> RuntimeError

    init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0, fail: @escaping (String) -> RuntimeError) {
        self.bytes = bytes; self.position = position; self.fail = fail
    }

    var remaining: Int { bytes.count - position }

    mutating func skip(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else { throw fail("\(what) runs past the end (\(n) bytes needed, \(remaining) left)") }
        position += n
    }

    mutating func raw(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        let start = position
        try skip(n, what)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<start + n])
    }

    mutating func u8(_ what: String) throws -> UInt8 { try raw(1, what)[0] }
    mutating func u16(_ what: String) throws -> UInt16 { UInt16(littleEndian: try raw(2, what).loadUnaligned(as: UInt16.self)) }
    mutating func u32(_ what: String) throws -> UInt32 { UInt32(littleEndian: try raw(4, what).loadUnaligned(as: UInt32.self)) }
    mutating func u64(_ what: String) throws -> UInt64 { UInt64(littleEndian: try raw(8, what).loadUnaligned(as: UInt64.self)) }
    mutating func i64(_ what: String) throws -> Int64 { Int64(bitPattern: try u64(what)) }
    mutating func i32(_ what: String) throws -> Int32 { Int32(bitPattern: try u32(what)) }
    mutating func f32(_ what: String) throws -> Float { Float(bitPattern: try u32(what)) }

    /// A size or offset field that must fit in Int (files larger than 2^63 bytes do not exist).
    mutating func size(_ what: String) throws -> Int {
        let v = try u64(what)
        guard v <= UInt64(Int.max) else { throw fail("\(what) \(v) is out of range") }
        return Int(v)
    }
}

/// Overflow-checked `offset + length <= limit`.
func rangeFits(offset: Int, length: Int, limit: Int) -> Bool {
    guard offset >= 0, length >= 0 else { return false }
    let (end, o) = offset.addingReportingOverflow(length)
    return !o && end <= limit
}
