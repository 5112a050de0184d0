import CZstd
import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// The byte-planes codec (pack 1.1): choice per plane, round trips, the older shuffle+zstd codec
/// still decoding, and every malformed plane header reported rather than trusted.
final class PackPlanesCodecTests: XCTestCase {
    /// Weight-like floats: random sign, a few exponents (magnitudes 2^-8 to 2^-5), random mantissas.
    static func weights(_ n: Int, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let values = (0..<n).map { _ -> Float in
            let r = rng.next()
            let sign = UInt32(r >> 63) << 31, exponent = UInt32(119 + (r >> 40) % 4) << 23
            return Float(bitPattern: sign | exponent | UInt32(truncatingIfNeeded: r) & 0x7f_ffff)
        }
        return .float32(values, shape: [n])
    }

    func planeLengths(_ blob: [UInt8], width: Int) -> [Int] {
        (0..<width).map { j in blob.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: j * 8, as: UInt64.self))) } }
    }

    /// Decodes `blob` as the directory entry of `t` would describe it.
    func decode(_ blob: [UInt8], codec: PackCodec, like t: Tensor, verify: Bool = false, checksum: UInt64 = 0) throws -> TensorStorage {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("blob.bin")
        try Data(blob).write(to: url)
        let mapping = try MappedFile(path: url.path)
        let entry = PackTensorEntry(name: "main/w", dtype: t.dtype, shape: t.shape, quant: nil, offset: 0,
                                    storedSize: blob.count, rawSize: t.byteCount, codec: codec, checksum: checksum)
        return try BlobCodec.decode(entry, stored: mapping.bytes, mapping: mapping, verify: verify) {
            RuntimeError.badPack(file: url.path, what: $0)
        }
    }

    func testMantissaPlanesRawExponentPlaneCompressed() throws {
        let n = 1 << 18
        let t = Self.weights(n, seed: 3)
        let blob = try BlobCodec.encode(t, options: PackWriteOptions())
        XCTAssertEqual(blob.codec, .planes)
        let bytes = try XCTUnwrap(blob.compressed)
        let lengths = planeLengths(bytes, width: 4)
        XCTAssertEqual(lengths[0], n, "lowest mantissa byte is near-random: stored raw")
        XCTAssertEqual(lengths[1], n, "second mantissa byte is near-random: stored raw")
        XCTAssertLessThan(lengths[3], n / 2, "sign and exponent byte compresses")
        XCTAssertEqual(32 + lengths.reduce(0, +), bytes.count)
        XCTAssertEqual(blob.checksum, PackChecksum.xxh64(bytes))
        let back = try decode(bytes, codec: .planes, like: t)
        XCTAssertEqual(memcmp(back.pointer, t.storage.pointer, t.byteCount), 0)
    }

    func testRoundTripOfEveryFloatWidth() throws {
        var g = Graph(name: "main")
        g.initializers["w32"] = Self.weights(170_000, seed: 5)
        var rng = SeededRandom(seed: 6)
        let halves = rng.floats(150_000).map { Float16($0 * 0.1).bitPattern }
        g.initializers["w16"] = Tensor(dtype: .float16, shape: [150_000], scalars: halves)
        g.initializers["w64"] = Tensor(dtype: .float64, shape: [40_000], scalars: rng.floats(40_000).map { Double($0) })
        g.initializers["zeros"] = Tensor(dtype: .float32, shape: [300_000])
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("p.pack")
        try Pack.write(Model(graphs: [g]), to: url.path)
        let info = try Pack.readDirectory(url.path)
        XCTAssertEqual(info.minorVersion, 1)
        XCTAssertTrue(info.tensors.allSatisfy { $0.codec == .planes && $0.storedSize < $0.rawSize }, "\(info.tensors.map { ($0.name, $0.codec) })")
        XCTAssertLessThan(info.tensors.first { $0.name == "main/zeros" }!.storedSize, 1000, "1.2 MB of zeros")
        let back = try Pack.read(url.path).graphs[0]
        for (name, t) in g.initializers { XCTAssertTrue(back.initializers[name]!.bitwiseEqual(t), name) }
    }

    /// Packs written before 1.1 store floats as one shuffled zstd frame; they must keep loading.
    func testShuffleZstdBlobStillDecodes() throws {
        let t = Self.weights(10_000, seed: 8)
        var shuffled = [UInt8](repeating: 0, count: t.byteCount)
        lseg_byte_shuffle(t.storage.pointer, &shuffled, t.count, 4)
        var frame = [UInt8](repeating: 0, count: ZSTD_compressBound(t.byteCount))
        let n = lseg_zstd_compress(&frame, frame.count, shuffled, shuffled.count, 1, 0)
        XCTAssertEqual(ZSTD_isError(n), 0)
        frame.removeSubrange(n...)
        let back = try decode(frame, codec: .shuffleZstd, like: t, verify: true, checksum: PackChecksum.xxh64(frame))
        XCTAssertEqual(memcmp(back.pointer, t.storage.pointer, t.byteCount), 0)
    }

    func testSmallFloatTensorsKeepOneShuffledFrame() throws {
        let t = Self.weights(BlobCodec.planesFromBytes / 4 - 1, seed: 4)
        XCTAssertEqual(try BlobCodec.encode(t, options: PackWriteOptions()).codec, .shuffleZstd)
        XCTAssertEqual(try BlobCodec.encode(Self.weights(BlobCodec.planesFromBytes / 4, seed: 4), options: PackWriteOptions()).codec, .planes)
        // Without planes blobs the pack is a 1.0 pack, readable by 1.0 readers.
        let url = try PackFixtures.folder(self).appendingPathComponent("small.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        XCTAssertEqual(try Pack.readDirectory(url.path).minorVersion, 0)
    }

    func testMalformedPlaneHeadersAreReported() throws {
        let n = 1 << 17
        let t = Self.weights(n, seed: 9)
        let good = try XCTUnwrap(try BlobCodec.encode(t, options: PackWriteOptions()).compressed)
        func with(plane j: Int, length: UInt64) -> [UInt8] {
            var b = good
            withUnsafeBytes(of: length.littleEndian) { for k in 0..<8 { b[j * 8 + k] = $0[k] } }
            return b
        }
        let lengths = planeLengths(good, width: 4)
        assertBadPack(["tensor 'main/w'", "byte plane 0", "claims"]) { _ = try decode(with(plane: 0, length: UInt64(n + 1)), codec: .planes, like: t) }
        assertBadPack(["byte plane 0", "claims"]) { _ = try decode(with(plane: 0, length: UInt64.max), codec: .planes, like: t) }
        // A zstd plane said to be longer than it is: it runs into the next plane's bytes.
        assertBadPack(["byte plane 3"]) { _ = try decode(with(plane: 3, length: UInt64(lengths[3] + 1)), codec: .planes, like: t) }
        // Shorter: the frame no longer fills its plane, and the planes no longer fill the blob.
        assertBadPack(["byte plane 3", "zstd"]) { _ = try decode(with(plane: 3, length: UInt64(lengths[3] - 1)), codec: .planes, like: t) }
        assertBadPack(["byte planes end at"]) { _ = try decode(good + [0], codec: .planes, like: t) }
        assertBadPack(["shorter than its 32-byte header"]) { _ = try decode(Array(good[0..<20]), codec: .planes, like: t) }
        assertBadPack(["byte plane"]) { _ = try decode(Array(good[0..<(good.count - 10)]), codec: .planes, like: t) }
        // A flipped bit in a raw plane is what the blob checksum is there for.
        var flipped = good
        flipped[40] ^= 1
        assertBadPack(["checksum mismatch"]) { _ = try decode(flipped, codec: .planes, like: t, verify: true, checksum: PackChecksum.xxh64(good)) }
        XCTAssertNoThrow(try decode(good, codec: .planes, like: t, verify: true, checksum: PackChecksum.xxh64(good)))
    }
}
