import CZstd
import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// Edits a pack's bytes the way a bug or a bad disk would, optionally resealing checksums so the
/// edit reaches the validation behind them.
enum PackSurgery {
    static func u64(_ b: [UInt8], _ at: Int) -> Int {
        Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * $1) })
    }

    static func setU64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
        for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }

    static func directoryRange(_ b: [UInt8]) -> Range<Int> {
        let o = u64(b, PackFormat.directoryOffsetOffset)
        return o..<o + u64(b, PackFormat.directorySizeOffset)
    }

    static func graphRange(_ b: [UInt8]) -> Range<Int> {
        let o = u64(b, PackFormat.graphOffsetOffset)
        return o..<o + u64(b, PackFormat.graphStoredSizeOffset)
    }

    /// Replaces the graph section with `json`, compressed, and fixes sizes and checksums.
    static func replaceGraphSection(_ b: inout [UInt8], json: String) {
        let raw = Array(json.utf8)
        var frame = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
        let n = lseg_zstd_compress(&frame, frame.count, raw, raw.count, 1, 0)
        frame.removeSubrange(n...)
        b.replaceSubrange(graphRange(b), with: frame)
        setU64(&b, PackFormat.graphStoredSizeOffset, UInt64(frame.count))
        setU64(&b, PackFormat.graphRawSizeOffset, UInt64(raw.count))
        setU64(&b, PackFormat.fileSizeOffset, UInt64(b.count))
        setU64(&b, PackFormat.graphChecksumOffset, PackChecksum.xxh64(frame))
        resealHeader(&b)
    }

    static func resealHeader(_ b: inout [UInt8]) {
        setU64(&b, PackFormat.headerChecksumOffset, 0)
        setU64(&b, PackFormat.headerChecksumOffset, PackChecksum.xxh64(Array(b[0..<PackFormat.headerSize])))
    }

    /// Recomputes the directory checksum, then the header's.
    static func resealDirectory(_ b: inout [UInt8]) {
        setU64(&b, PackFormat.directoryChecksumOffset, PackChecksum.xxh64(Array(b[directoryRange(b)])))
        resealHeader(&b)
    }
}

final class PackCorruptionTests: XCTestCase {
    private var folder: URL!
    private var original: [UInt8] = []
    private var info: PackInfo!

    override func setUpWithError() throws {
        folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("good.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        original = [UInt8](try Data(contentsOf: url))
        info = try Pack.readDirectory(url.path)
    }

    private func read(_ bytes: [UInt8], verify: Bool = true) throws {
        let url = folder.appendingPathComponent("bad.pack")
        try Data(bytes).write(to: url)
        _ = try Pack.read(url.path, options: PackReadOptions(verifyChecksums: verify))
    }

    private func entry(_ name: String) -> PackTensorEntry { info.tensors.first { $0.name == name }! }

    /// Byte offset of directory entry `index`'s start.
    private func entryStart(_ index: Int) -> Int {
        var at = PackSurgery.directoryRange(original).lowerBound
        for _ in 0..<index { at += Int(original[at]) | Int(original[at + 1]) << 8 }
        return at
    }

    func testTruncationAtManyOffsets() {
        var cuts = Array(0..<140) + stride(from: 140, to: original.count, by: 1499)
        cuts += [PackSurgery.directoryRange(original).lowerBound, PackSurgery.graphRange(original).lowerBound + 5, original.count - 1]
        for n in cuts {
            do {
                try read(Array(original.prefix(n)))
                XCTFail("cut at \(n): read succeeded")
            } catch let RuntimeError.badPack(_, what) {
                XCTAssertTrue(what.contains("truncated") || what.contains("empty"), "cut at \(n): \(what)")
            } catch {
                XCTFail("cut at \(n): \(error)")
            }
        }
    }

    func testTrailingBytesAreRefused() {
        assertBadPack(["trailing data"]) { try read(original + [0]) }
    }

    func testWrongMagic() {
        var b = original
        b[0] = UInt8(ascii: "X")
        assertBadPack(["bad magic"]) { try read(b) }
        assertBadPack(["bad magic"]) { try read(Array("PK\u{3}\u{4}".utf8)) }
    }

    func testUnknownMajorVersionIsRefused() {
        var b = original
        b[PackFormat.majorOffset] = 3
        assertBadPack(["version 3.0 is not supported"]) { try read(b) }
        b[PackFormat.majorOffset] = 0
        assertBadPack(["version 0.0 is not supported"]) { try read(b) }
    }

    func testFlippedBitInHeader() {
        for offset in [PackFormat.headerSizeOffset, PackFormat.fileSizeOffset, PackFormat.directoryOffsetOffset + 1,
                       PackFormat.graphChecksumOffset + 3, 127] {
            var b = original
            b[offset] ^= 0x10
            assertBadPack(["header"], "offset \(offset)") { try read(b) }
        }
    }

    func testFlippedBitInDirectory() {
        var b = original
        b[PackSurgery.directoryRange(b).lowerBound + 20] ^= 1
        assertBadPack(["directory: checksum mismatch"]) { try read(b) }
    }

    func testFlippedBitInGraphSection() {
        var b = original
        b[PackSurgery.graphRange(b).lowerBound + 30] ^= 4
        assertBadPack(["graph section: checksum mismatch"]) { try read(b) }
    }

    func testFlippedBitInCompressedBlob() {
        let e = entry("text/zeros")
        XCTAssertEqual(e.codec, .shuffleZstd)
        var b = original
        b[e.offset + e.storedSize / 2] ^= 0x80
        assertBadPack(["tensor 'text/zeros'", "checksum mismatch"]) { try read(b) }
        // Without our checksum, zstd's own frame checks still catch it.
        assertBadPack(["tensor 'text/zeros'", "zstd"]) { try read(b, verify: false) }
    }

    func testFlippedBitInRawBlob() {
        let e = entry("text/all_float32")
        XCTAssertEqual(e.codec, .raw)
        var b = original
        b[e.offset + 17] ^= 2
        assertBadPack(["tensor 'text/all_float32'", "checksum mismatch"]) { try read(b) }
    }

    func testBlobOffsetOutsideFile() {
        var b = original
        PackSurgery.setU64(&b, entryStart(0) + 16, UInt64((b.count / 64 + 10) * 64))
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "outside the data section"]) { try read(b) }
    }

    func testMisalignedBlobOffset() {
        var b = original
        PackSurgery.setU64(&b, entryStart(1) + 16, UInt64(PackSurgery.u64(b, entryStart(1) + 16) + 4))
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 1", "not 64-byte aligned"]) { try read(b) }
    }

    func testOverflowingSizes() {
        // Stored size near Int.max: offset + size overflows.
        var b = original
        PackSurgery.setU64(&b, entryStart(0) + 24, UInt64(Int.max - 10))
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "outside the data section"]) { try read(b) }

        // A size beyond Int.
        b = original
        PackSurgery.setU64(&b, entryStart(0) + 32, UInt64.max)
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "raw size", "out of range"]) { try read(b) }

        // Dimensions whose product overflows.
        b = original
        let start = entryStart(0)
        XCTAssertEqual(b[start + 6], 3, "entry 0 has rank 3")
        for k in 0..<3 { PackSurgery.setU64(&b, start + 48 + 8 * k, 1 << 40) }
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "too large"]) { try read(b) }

        // Raw size disagreeing with the shape.
        b = original
        PackSurgery.setU64(&b, start + 32, UInt64(PackSurgery.u64(b, start + 32) + 1))
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "does not match shape"]) { try read(b) }

        // Directory size in the header pointing past the file.
        b = original
        PackSurgery.setU64(&b, PackFormat.directorySizeOffset, UInt64(Int.max))
        PackSurgery.resealHeader(&b)
        assertBadPack(["header: directory", "outside the file"]) { try read(b) }

        // A tensor count the directory cannot hold.
        b = original
        PackSurgery.setU64(&b, PackFormat.tensorCountOffset, 1 << 40)
        PackSurgery.resealHeader(&b)
        assertBadPack(["directory", "cannot fit"]) { try read(b) }
    }

    func testUnknownCodecAndDtype() {
        var b = original
        b[entryStart(0) + 5] = 9
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "unknown codec 9"]) { try read(b) }
        b = original
        b[entryStart(0) + 4] = 200
        PackSurgery.resealDirectory(&b)
        assertBadPack(["directory entry 0", "unknown dtype 200"]) { try read(b) }
    }

    func testInvalidGraphSectionContent() {
        var b = original
        PackSurgery.replaceGraphSection(&b, json: #"{"metadata": 5, "graphs": []}"#)
        assertBadPack(["graph section: invalid content", "metadata"]) { try read(b) }
        b = original
        PackSurgery.replaceGraphSection(&b, json: "not json")
        assertBadPack(["graph section: invalid content"]) { try read(b) }
    }

    func testUnknownTrailingEntryFieldsAreSkipped() throws {
        // A later minor version appends 8 bytes to entry 0; a 1.0 reader must skip them.
        var b = original
        let start = entryStart(0)
        let size = Int(b[start]) | Int(b[start + 1]) << 8
        b.insert(contentsOf: [1, 2, 3, 4, 5, 6, 7, 8], at: start + size)
        b[start] = UInt8((size + 8) & 0xFF); b[start + 1] = UInt8((size + 8) >> 8)
        PackSurgery.setU64(&b, PackFormat.directorySizeOffset, UInt64(PackSurgery.u64(b, PackFormat.directorySizeOffset) + 8))
        PackSurgery.setU64(&b, PackFormat.graphOffsetOffset, UInt64(PackSurgery.u64(b, PackFormat.graphOffsetOffset) + 8))
        PackSurgery.setU64(&b, PackFormat.fileSizeOffset, UInt64(b.count))
        PackSurgery.resealDirectory(&b)
        let url = folder.appendingPathComponent("extended.pack")
        try Data(b).write(to: url)
        let model = try Pack.read(url.path)
        let expected = PackFixtures.model()
        for (g, h) in zip(expected.graphs, model.graphs) {
            for (name, t) in g.initializers { XCTAssertTrue(t.bitwiseEqual(h.initializers[name]!), name) }
        }
    }

    func testGraphReferencingMissingTensor() throws {
        var model = PackFixtures.model()
        model.graphs[1].initializers = [:]
        let url = folder.appendingPathComponent("other.pack")
        try Pack.write(model, to: url.path)
        // Splice the graph section of the full model (which names image/w) onto this directory.
        var b = [UInt8](try Data(contentsOf: url))
        let g = PackSurgery.graphRange(b)
        let fullGraph = Array(original[PackSurgery.graphRange(original)])
        b.replaceSubrange(g, with: fullGraph)
        PackSurgery.setU64(&b, PackFormat.graphStoredSizeOffset, UInt64(fullGraph.count))
        PackSurgery.setU64(&b, PackFormat.graphRawSizeOffset, UInt64(PackSurgery.u64(original, PackFormat.graphRawSizeOffset)))
        PackSurgery.setU64(&b, PackFormat.fileSizeOffset, UInt64(b.count))
        PackSurgery.setU64(&b, PackFormat.graphChecksumOffset, PackChecksum.xxh64(fullGraph))
        PackSurgery.resealHeader(&b)
        assertBadPack(["graph 'image'", "initializer 'w'", "not in the directory"]) { try read(b) }
    }
}
