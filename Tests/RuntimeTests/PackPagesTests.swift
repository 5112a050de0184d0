import Foundation
import Runtime
import TestSupport
import XCTest

/// Mapped weights and their resident pages: one-byte weights that compress little are stored
/// raw (so they are mapped, not decoded into heap copies), loading leaves no weight resident,
/// and `PackPages.release` drops a mapped weight's pages without changing what it reads.
final class PackPagesTests: XCTestCase {
    /// Resident bytes of this process's mappings of `file` (/proc/self/smaps).
    static func residentBytes(of file: URL) throws -> Int {
        let f = try XCTUnwrap(fopen("/proc/self/smaps", "r"), "cannot open /proc/self/smaps")
        defer { fclose(f) }
        let path = file.resolvingSymlinksInPath().path
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        var inFile = false, total = 0
        while getline(&buffer, &capacity, f) > 0, let buffer {
            let line = String(cString: buffer).trimmingCharacters(in: .newlines)
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":") {
                inFile = line.hasSuffix(path)   // a mapping's header line
            } else if inFile, fields.first == "Rss:", fields.count >= 2, let kb = Int(fields[1]) {
                total += kb * 1024
            }
        }
        free(buffer)
        return total
    }

    /// Bell-shaped bytes like quantized weights (the sum of two uniforms in 0..<80, centred):
    /// zstd level 1 saves about 11% of them: above the general 5% minimum gain, below
    /// the 15% asked of one-byte tensors.
    static func weakNoise(_ count: Int, seed: UInt64) -> [Int8] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in Int8(Int(random.next() % 80) + Int(random.next() % 80) - 80) }
    }

    func model(_ weight: [Int8], _ flat: [Int8]) -> Model {
        let g = Graph(name: "main", inputs: [ValueInfo(name: "x", dtype: .int8, shape: [.fixed(weight.count)])],
                      outputs: [ValueInfo(name: "y", dtype: .int8, shape: [.fixed(weight.count)])],
                      nodes: [Node(name: "add", op: .add, inputs: ["x", "weight"], outputs: ["y"])],
                      initializers: ["weight": Tensor(dtype: .int8, shape: [weight.count], scalars: weight),
                                     "flat": Tensor(dtype: .int8, shape: [flat.count], scalars: flat)])
        return Model(graphs: [g])
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-pages-\(getpid())-\(name.hashValue)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func testWeaklyCompressibleInt8IsStoredRawUnlessAskedOtherwise() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = model(Self.weakNoise(512 * 1024, seed: 3), [Int8](repeating: 5, count: 64 * 1024))
        let raw = dir.appendingPathComponent("raw.pack"), packed = dir.appendingPathComponent("packed.pack")
        try Pack.write(m, to: raw.path)
        try Pack.write(m, to: packed.path, options: PackWriteOptions(byteTensorMinimumGain: 0))
        func codec(_ url: URL, _ name: String) throws -> PackCodec? {
            try Pack.readDirectory(url.path).tensors.first { $0.name == name }?.codec
        }
        XCTAssertEqual(try codec(raw, "main/weight") ?? codec(raw, "weight"), .raw, "saves under 15%: stored raw")
        XCTAssertEqual(try codec(packed, "main/weight") ?? codec(packed, "weight"), .zstd,
                       "with the one-byte threshold off, the general 5% minimum applies and it compresses")
        XCTAssertEqual(try codec(raw, "main/flat") ?? codec(raw, "flat"), .zstd, "a constant tensor still compresses")
        // Both read back the same.
        for url in [raw, packed] {
            let g = try XCTUnwrap(Pack.read(url.path).graphs.first)
            XCTAssertEqual(g.initializers["weight"]?.scalars(as: Int8.self), m.graphs[0].initializers["weight"]?.scalars(as: Int8.self))
        }
    }

    func testLoadingLeavesWeightsUnresidentAndReleaseDropsTouchedPages() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let weight = Self.weakNoise(2 << 20, seed: 4)
        let url = dir.appendingPathComponent("m.pack")
        try Pack.write(model(weight, [Int8](repeating: 5, count: 64 * 1024)), to: url.path)

        let (loaded, pages) = try Pack.readMapped(url.path)
        let g = try XCTUnwrap(loaded.graphs.first)
        let w = try XCTUnwrap(g.initializers["weight"]), flat = try XCTUnwrap(g.initializers["flat"])
        XCTAssertTrue(pages.contains(w), "a raw weight lies in the mapping")
        XCTAssertFalse(pages.contains(flat), "a decoded weight does not")
        XCTAssertEqual(pages.release(flat), 0, "nothing to release for a heap copy")
        XCTAssertLessThan(try Self.residentBytes(of: url), 1 << 20, "the checksum pass leaves no weight pages resident")

        XCTAssertEqual(w.scalars(as: Int8.self), weight)   // touches every page
        XCTAssertGreaterThanOrEqual(try Self.residentBytes(of: url), 2 << 20, "a read weight is resident")
        let released = pages.release(w)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        XCTAssertGreaterThanOrEqual(released, (2 << 20) - 2 * page, "all whole pages of the weight are released")
        XCTAssertLessThan(try Self.residentBytes(of: url), 1 << 20, "released pages are no longer resident")
        XCTAssertEqual(w.scalars(as: Int8.self), weight, "a released weight reads the same (paged in from the file)")
    }

    /// A token-embedding-like table: only an axis-0 Gather reads it. It is stored raw although it
    /// compresses (the same bytes read by a MatMul as well are compressed), and after loading,
    /// looking up four rows leaves about four rows resident, not the whole table nor the large
    /// page-cache folios the checksum's sequential read left behind (up to 2 MB each on Linux 6.18).
    func testLookupTablesAreStoredRawAndOnlyRowsReadBecomeResident() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = 8192, width = 512
        // Small integers as floats: the exponent plane compresses well.
        var random = SeededRandom(seed: 11)
        let values = (0..<rows * width).map { _ in Float(Int(random.next() % 64) - 32) }
        let table = Tensor.float32(values, shape: [rows, width])
        let shared = Tensor.float32(Array(values[..<(256 * width)]), shape: [256, width])
        let ids: [Int64] = [5, 1000, 4000, Int64(rows - 1)]
        let g = Graph(name: "main",
                      inputs: [ValueInfo(name: "ids", dtype: .int64, shape: [.fixed(ids.count)]),
                               ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1), .fixed(256)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: [.fixed(ids.count), .fixed(width)]),
                                ValueInfo(name: "z", dtype: .float32, shape: [.fixed(1), .fixed(width)]),
                                ValueInfo(name: "s", dtype: .float32, shape: [.fixed(ids.count), .fixed(width)])],
                      nodes: [Node(name: "lookup", op: .gather(axis: 0), inputs: ["table", "ids"], outputs: ["y"]),
                              Node(name: "lookup2", op: .gather(axis: 0), inputs: ["shared", "ids_small"], outputs: ["s"]),
                              Node(name: "mm", op: .matMul, inputs: ["x", "shared"], outputs: ["z"])],
                      initializers: ["table": table, "shared": shared,
                                     "ids_small": .int64([0, 1, 2, 255], shape: [ids.count])])
        let url = dir.appendingPathComponent("t.pack")
        try Pack.write(Model(graphs: [g]), to: url.path)
        let entries = Dictionary(uniqueKeysWithValues: try Pack.readDirectory(url.path).tensors.map { ($0.name, $0) })
        XCTAssertEqual(entries["main/table"]?.codec, .raw, "a table only Gather reads is stored raw")
        XCTAssertNotEqual(entries["main/shared"]?.codec, .raw, "the same kind of bytes also read by a MatMul compress")

        let (loaded, _) = try Pack.readMapped(url.path)
        let lg = try XCTUnwrap(loaded.graphs.first)
        XCTAssertLessThan(try Self.residentBytes(of: url), 1 << 20, "loading leaves the table unresident")
        let plan = try Plan(graph: lg, inputShapes: ["ids": [ids.count], "x": [1, 256]])
        let out = try Session(plan: plan, threads: 2).run(["ids": .int64(ids, shape: [ids.count]),
                                                           "x": .float32([Float](repeating: 1, count: 256), shape: [1, 256])])
        let y = try XCTUnwrap(out["y"]).scalars(as: Float.self)
        XCTAssertEqual(y, ids.flatMap { values[Int($0) * width..<(Int($0) + 1) * width] }, "the rows looked up")
        let resident = try Self.residentBytes(of: url)
        XCTAssertLessThan(resident, 1 << 20, "four 2 KB rows of a 16 MB table left \(resident) bytes resident")
    }
}
