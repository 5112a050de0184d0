import CZstd
import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class PackRoundTripTests: XCTestCase {
    func testRoundTripIsBitExact() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        let model = PackFixtures.model()
        let report = try Pack.write(model, to: url.path)
        XCTAssertEqual(report.fileSize, try Data(contentsOf: url).count)
        XCTAssertEqual(report.tensorCount, model.graphs.reduce(0) { $0 + $1.initializers.count })

        let back = try Pack.read(url.path)
        XCTAssertEqual(back.metadata, model.metadata)
        XCTAssertEqual(back.graphs.map(\.name), ["text", "image"])
        for (a, b) in zip(model.graphs, back.graphs) {
            XCTAssertEqual(a.inputs, b.inputs)
            XCTAssertEqual(a.outputs, b.outputs)
            XCTAssertEqual(a.valueInfo, b.valueInfo)
            XCTAssertEqual(a.nodes.count, b.nodes.count)
            for (x, y) in zip(a.nodes, b.nodes) {
                // NaN attributes are never == themselves; compare their encodings instead.
                if case .constantOfShape(_, let v) = x.op, v.isNaN {
                    guard case .constantOfShape(_, let w) = y.op else { return XCTFail("op changed") }
                    XCTAssertTrue(w.isNaN)
                } else {
                    XCTAssertEqual(x, y)
                }
            }
            XCTAssertEqual(Set(a.initializers.keys), Set(b.initializers.keys))
            for (name, t) in a.initializers {
                let u = b.initializers[name]!
                XCTAssertTrue(t.bitwiseEqual(u), "\(a.name)/\(name) differs")
                XCTAssertEqual(t.quant, u.quant, "\(a.name)/\(name) quant")
                XCTAssertEqual(u.storage.byteCount, t.byteCount, "\(a.name)/\(name) storage size")
            }
        }
        XCTAssertEqual(back.graphs[0].nodes[0].op, .constantOfShape(dtype: .float32, value: -.infinity))
        XCTAssertEqual(back.vocabularyBytes, model.vocabularyBytes)
        XCTAssertNotNil(back.vocabularyBytes)
    }

    func testWritingIsDeterministic() throws {
        let folder = try PackFixtures.folder(self)
        let model = PackFixtures.model()
        let a = folder.appendingPathComponent("a.pack"), b = folder.appendingPathComponent("b.pack")
        try Pack.write(model, to: a.path)
        // Different threading and batching must not change a byte.
        try Pack.write(model, to: b.path, options: PackWriteOptions(threads: 1, batchBytes: 1000))
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        // Nor must re-writing a model that was read back (borrowed, mapped storage).
        let c = folder.appendingPathComponent("c.pack")
        try Pack.write(try Pack.read(a.path), to: c.path)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: c))
    }

    func testLargeBlobIsDeterministicAcrossThreadCounts() throws {
        // Blobs of 16 MB and more go through zstd's multithreaded mode.
        let n = (BlobCodec.multithreadedBytes + 4096) / 4
        let t = Tensor(dtype: .float32, shape: [n])
        let p = t.data.assumingMemoryBound(to: Float.self)
        var state: UInt32 = 1
        for i in 0..<n {
            state = state &* 1_664_525 &+ 1_013_904_223
            p[i] = Float(Int32(bitPattern: state) >> 20) * 1e-3
        }
        var g = Graph(name: "main")
        g.initializers["big"] = t
        let folder = try PackFixtures.folder(self)
        let a = folder.appendingPathComponent("a.pack"), b = folder.appendingPathComponent("b.pack")
        let report = try Pack.write(Model(graphs: [g]), to: a.path, options: PackWriteOptions(threads: 1))
        try Pack.write(Model(graphs: [g]), to: b.path, options: PackWriteOptions(threads: 2))
        XCTAssertEqual(report.codecCounts[.planes], 1)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        XCTAssertTrue(try Pack.read(b.path).graphs[0].initializers["big"]!.bitwiseEqual(t))
    }

    func testEveryTensorIsAligned() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        let info = try Pack.readDirectory(url.path)
        XCTAssertTrue(info.tensors.contains { $0.codec == .raw && $0.rawSize > 0 }, "fixture needs raw blobs")
        for e in info.tensors { XCTAssertEqual(e.offset % 64, 0, e.name) }
        let model = try Pack.read(url.path)
        for g in model.graphs {
            for (name, t) in g.initializers {
                XCTAssertEqual(Int(bitPattern: t.storage.pointer) % 64, 0, "\(g.name)/\(name)")
            }
        }
    }

    func testCodecChoice() throws {
        let folder = try PackFixtures.folder(self)
        var g = Graph(name: "main")
        // Every bit pattern equally likely: incompressible, so stored raw.
        g.initializers["noise"] = PackFixtures.tensor(.float32, [4096], seed: 7)
        var rng = SeededRandom(seed: 9)
        let uniform = rng.floats(4096)
        g.initializers["uniform"] = .float32(uniform, shape: [4096])
        // The same bytes as uint8: plain zstd, no shuffle.
        g.initializers["uniform_bytes"] = uniform.withUnsafeBytes { Tensor(dtype: .uint8, shape: [16384], storage: TensorStorage(copying: $0)) }
        g.initializers["zeros"] = Tensor(dtype: .float32, shape: [4096])
        g.initializers["zeros_f16"] = Tensor(dtype: .float16, shape: [4096])
        g.initializers["ids"] = Tensor(dtype: .int64, shape: [4096])
        g.initializers["tiny"] = Tensor(dtype: .float32, shape: [10])
        let url = folder.appendingPathComponent("c.pack")
        let report = try Pack.write(Model(graphs: [g]), to: url.path)
        let codecs = Dictionary(uniqueKeysWithValues: try Pack.readDirectory(url.path).tensors.map { ($0.name, $0) })
        XCTAssertEqual(codecs["main/noise"]?.codec, .raw)
        XCTAssertEqual(codecs["main/uniform"]?.codec, .shuffleZstd)
        XCTAssertEqual(codecs["main/zeros"]?.codec, .shuffleZstd)
        XCTAssertEqual(codecs["main/zeros_f16"]?.codec, .shuffleZstd)
        XCTAssertEqual(codecs["main/ids"]?.codec, .zstd)
        XCTAssertEqual(codecs["main/tiny"]?.codec, .raw)
        XCTAssertLessThan(codecs["main/zeros"]!.storedSize, 200)
        // Uniform floats in [-1, 1): the shuffle is what makes them compress.
        XCTAssertLessThan(codecs["main/uniform"]!.storedSize, codecs["main/uniform_bytes"]!.storedSize)
        XCTAssertEqual(report.codecCounts[.raw], codecs["main/uniform_bytes"]!.codec == .raw ? 3 : 2)
        XCTAssertLessThan(report.storedTensorBytes, report.rawTensorBytes)
    }

    func testProgressReachesTotal() throws {
        let folder = try PackFixtures.folder(self)
        final class Calls: @unchecked Sendable { var values: [(Int, Int)] = [] }
        let calls = Calls()
        let model = PackFixtures.model()
        try Pack.write(model, to: folder.appendingPathComponent("p.pack").path,
                       options: PackWriteOptions(progress: { calls.values.append(($0, $1)) }))
        let total = model.graphs.reduce(0) { $0 + $1.initializers.values.reduce(0) { $0 + $1.byteCount } }
        XCTAssertEqual(calls.values.count, model.graphs.reduce(0) { $0 + $1.initializers.count })
        XCTAssertEqual(calls.values.last?.0, total)
        XCTAssertTrue(calls.values.allSatisfy { $0.1 == total })
        XCTAssertEqual(calls.values.map(\.0), calls.values.map(\.0).sorted())
    }

    func testFusedConvAttributesNeedMajorTwoAndOnlyThey() throws {
        // A 1.x reader skips unknown JSON keys: it would run a fused conv without its residual.
        let folder = try PackFixtures.folder(self)
        let plain = folder.appendingPathComponent("plain.pack")
        try Pack.write(PackFixtures.model(), to: plain.path)
        XCTAssertEqual(try Pack.readDirectory(plain.path).majorVersion, 1)
        for attrs in [ConvAttrs(pads: [1, 1, 1, 1], preActivation: .relu), ConvAttrs(pads: [1, 1, 1, 1], residual: true)] {
            var model = PackFixtures.model()
            let i = model.graphs.firstIndex { $0.name == "image" }!
            model.graphs[i].nodes.append(Node(name: "fused", op: .conv(attrs), inputs: ["a", "b", "", "c"], outputs: ["d"]))
            for op in [Op.conv(attrs), .qConv(QConvAttrs(conv: attrs, input: QuantParams(scales: [0.1], zeroPoints: [3])))] {
                model.graphs[i].nodes[model.graphs[i].nodes.count - 1].op = op
                let url = folder.appendingPathComponent("fused.pack")
                try Pack.write(model, to: url.path)
                XCTAssertEqual(try Pack.readDirectory(url.path).majorVersion, 2, "\(op)")
                let back = try Pack.read(url.path)
                XCTAssertEqual(back.graphs[i].nodes.last?.op, op)
            }
        }
    }

    func testUnknownMinorVersionAndReservedFieldsAreSkipped() throws {
        // A later minor version may grow the header; a 1.x reader skips what it does not know.
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[PackFormat.minorOffset] = 7
        bytes[120] = 0x5A  // a "reserved" header byte a later minor might use
        PackSurgery.resealHeader(&bytes)
        let patched = folder.appendingPathComponent("minor.pack")
        try Data(bytes).write(to: patched)
        let info = try Pack.readDirectory(patched.path)
        XCTAssertEqual(info.minorVersion, 7)
        XCTAssertEqual(try Pack.read(patched.path).graphs.count, 2)
    }

    func testByteShuffleLayoutAndInverse() {
        // Counts around the 16-element SIMD blocks, every width the dtypes have.
        for width in [1, 2, 4, 8] {
            for count in [0, 1, 15, 16, 17, 33, 100] {
                let input = PackFixtures.randomBytes(count * width, seed: UInt64(count * 10 + width))
                var shuffled = [UInt8](repeating: 0, count: input.count), back = shuffled
                lseg_byte_shuffle(input, &shuffled, count, width)
                lseg_byte_unshuffle(shuffled, &back, count, width)
                for i in 0..<count {
                    for j in 0..<width where shuffled[j * count + i] != input[i * width + j] {
                        XCTFail("width \(width) count \(count): byte \(j) of element \(i) misplaced")
                    }
                }
                XCTAssertEqual(back, input, "width \(width) count \(count)")
            }
        }
    }

    func testXXH64MatchesKnownValueAndZstdFrames() throws {
        XCTAssertEqual(PackChecksum.xxh64([]), 0xEF46_DB37_51D8_E999)
        // zstd stores the low 32 bits of XXH64(content) at the end of each frame: an independent check.
        for n in [129, 135, 164, 1000, 4099, 4127] {
            var bytes = PackFixtures.randomBytes(n, seed: UInt64(n))
            for i in 0..<n where i % 4 != 0 { bytes[i] = 0 }  // compressible, so zstd is used
            let t = Tensor(dtype: .uint8, shape: [n], scalars: bytes)
            let blob = try BlobCodec.encode(t, options: PackWriteOptions(minimumGain: 0, rawBelowBytes: 0))
            guard let frame = blob.compressed else { XCTFail("n=\(n) not compressed"); continue }
            let tail = frame.suffix(4).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            XCTAssertEqual(tail, PackChecksum.xxh64(bytes) & 0xFFFF_FFFF, "n=\(n)")
        }
    }
}
