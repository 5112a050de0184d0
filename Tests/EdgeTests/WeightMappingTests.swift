import Foundation
import Runtime
import TestSupport
import XCTest

/// Loading keeps each weight resident once: blobs stored raw are used in place from the file
/// mapping (no copy), compressed ones are decoded into buffers of their own.
final class WeightMappingTests: XCTestCase {
    /// The address ranges of this process mapped from `file` (/proc/self/maps).
    static func mappedRanges(of file: URL) throws -> [Range<UInt>] {
        // Read line by line with stdio: /proc files report size 0, which whole-file readers may trust.
        let f = try XCTUnwrap(fopen("/proc/self/maps", "r"), "cannot open /proc/self/maps")
        defer { fclose(f) }
        var lines: [String] = []
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&buffer, &capacity, f) > 0, let buffer {
            lines.append(String(cString: buffer).trimmingCharacters(in: .newlines))
        }
        free(buffer)
        let path = file.resolvingSymlinksInPath().path
        return lines.compactMap { line in
            guard line.hasSuffix(path) else { return nil }
            let bounds = line.split(separator: " ")[0].split(separator: "-")
            guard bounds.count == 2, let lo = UInt(bounds[0], radix: 16), let hi = UInt(bounds[1], radix: 16) else { return nil }
            return lo..<hi
        }
    }

    func testRawBlobsAreMappedAndCompressedOnesDecoded() throws {
        var random = SeededRandom(seed: 9)
        // Uniform random bytes do not compress: stored raw. A constant tensor compresses: zstd.
        let noise = (0..<(256 * 1024)).map { _ in Int8(truncatingIfNeeded: random.next()) }
        let flat = [Int8](repeating: 3, count: 256 * 1024)
        let g = Graph(name: "main", inputs: [ValueInfo(name: "x", dtype: .int8, shape: [.fixed(noise.count)])],
                      outputs: [ValueInfo(name: "y", dtype: .int8, shape: [.fixed(noise.count)])],
                      nodes: [Node(name: "add", op: .add, inputs: ["x", "noise"], outputs: ["y"])],
                      initializers: ["noise": Tensor(dtype: .int8, shape: [noise.count], scalars: noise),
                                     "flat": Tensor(dtype: .int8, shape: [flat.count], scalars: flat)])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-mapping-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.pack")
        let report = try Pack.write(Model(graphs: [g]), to: url.path)
        XCTAssertEqual(report.codecCounts[.raw], 1, "the noise tensor is stored raw")

        let model = try Pack.read(url.path)
        let ranges = try Self.mappedRanges(of: url)
        XCTAssertFalse(ranges.isEmpty, "the pack is mapped")
        func isMapped(_ t: Tensor) -> Bool {
            let a = UInt(bitPattern: t.storage.pointer)
            return ranges.contains { $0.contains(a) && $0.contains(a + UInt(t.byteCount) - 1) }
        }
        let loaded = try XCTUnwrap(model.graphs.first)
        let n = try XCTUnwrap(loaded.initializers["noise"]), f = try XCTUnwrap(loaded.initializers["flat"])
        XCTAssertTrue(isMapped(n), "a raw blob is used in place from the mapping")
        XCTAssertEqual(UInt(bitPattern: n.storage.pointer) % 64, 0, "in place and 64-byte aligned")
        XCTAssertEqual(n.scalars(as: Int8.self), noise)
        XCTAssertFalse(isMapped(f), "a compressed blob is decoded into its own buffer")
        XCTAssertEqual(f.scalars(as: Int8.self), flat)
    }
}
