import CHash
import Foundation

/// SHA-256 (FIPS 180-4), for the source-file digests a pack records. Written for speed on
/// large weight files: blocks are hashed straight from the caller's memory.
public struct SHA256: Sendable {
    private var state = lseg_sha256_state()
    private var pending: [UInt8] = []
    private var total: UInt64 = 0

    public init() { lseg_sha256_init(&state) }

    /// The hex digest of `bytes`.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var s = SHA256()
        s.update(bytes)
        return s.finalizeHex()
    }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }

    /// The hex digest of the file at `url` (mapped, not read into memory).
    public static func hex(file url: URL) throws -> String {
        let f = try MappedFile(url)
        return withExtendedLifetime(f) { hex(f.bytes) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        total &+= UInt64(bytes.count)
        var p = start
        var left = bytes.count
        if !pending.isEmpty {
            let take = Swift.min(64 - pending.count, left)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
            p += take; left -= take
            if pending.count == 64 {
                pending.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let blocks = left / 64
        if blocks > 0 {
            compress(p, blocks: blocks)
            p += blocks * 64; left -= blocks * 64
        }
        if left > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: left)) }
    }

    public mutating func finalizeHex() -> String {
        let bitLength = total &* 8
        var tail: [UInt8] = [0x80]
        while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        let saved = total
        tail.withUnsafeBytes { update($0) }
        total = saved
        precondition(pending.isEmpty)
        let words = [state.h.0, state.h.1, state.h.2, state.h.3, state.h.4, state.h.5, state.h.6, state.h.7]
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for w in words {
            for shift in stride(from: 28, through: 0, by: -4) { out.append(digits[Int((w >> UInt32(shift)) & 0xf)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The rounds run in C (Sources/CHash): about twice the speed Swift reached, and the hash of
    /// a gigabyte-sized source bounds how fast lseg-convert can be.
    private mutating func compress(_ data: UnsafeRawPointer, blocks: Int) {
        lseg_sha256_blocks(&state, data, blocks)
    }
}
