import Foundation
import Runtime
import TestSupport
import XCTest

/// Single flipped bits anywhere in a pack are detected at load, by a message naming the
/// damaged section or tensor.
final class PackBitFlipTests: XCTestCase {
    func testSingleBitFlipsAreDetected() throws {
        let original = try [UInt8](Data(contentsOf: HostileCorpus.basePack))
        let dataOffset = Int(original[24..<32].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let dataSize = Int(original[32..<40].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let codecs = Set(try Pack.readDirectory(HostileCorpus.basePack.path).tensors.map(\.codec))
        XCTAssertEqual(codecs.count, 2, "the base pack should hold a raw and a compressed blob: \(codecs)")
        let dir = try BuiltTools.scratchFolder("bitflip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("flipped.pack")
        _ = try Pack.read(HostileCorpus.basePack.path)  // the unflipped pack loads

        // Every byte (header, padding, blobs, directory, graph section); three bits each.
        let positions = Array(original.indices)
        XCTAssertGreaterThan(dataSize, 100)
        XCTAssertGreaterThan(dataOffset, 0)
        let sections = ["header", "directory", "graph", "tensor", "data section", "magic", "version", "truncated"]
        var tried = 0, detected = 0
        var misses: [String] = []
        var bytes = original
        for at in positions {
            for bit in [at % 8, (at + 3) % 8, (at + 6) % 8] {
                bytes[at] ^= UInt8(1 << bit)
                try Data(bytes).write(to: url)
                bytes[at] = original[at]
                tried += 1
                do {
                    _ = try Pack.read(url.path)
                    if misses.count < 20 { misses.append("byte \(at) bit \(bit): loaded without error") }
                } catch let e as RuntimeError {
                    let message = e.description
                    if message.contains(url.path) && sections.contains(where: message.contains) {
                        detected += 1
                    } else if misses.count < 20 {
                        misses.append("byte \(at) bit \(bit): message names no file and section: \(message)")
                    }
                }
            }
        }
        print("pack corruption: \(detected) of \(tried) single-bit flips detected (\(positions.count) of \(original.count) bytes, 3 bits each)")
        XCTAssertEqual(detected, tried, "undetected or unnamed flips:\n" + misses.joined(separator: "\n"))
    }
}

/// A run's working memory has a ceiling: Plan refuses, before anything is allocated, an arena
/// plus workspace above `maxMemoryBytes`.
final class MemoryLimitTests: XCTestCase {
    func testPlanRefusesAnArenaAboveTheLimit() throws {
        let model = try Pack.read(HostileCorpus.basePack.path)
        let g = try XCTUnwrap(model.graphs.first)
        let unlimited = try Plan(graph: g, inputShapes: ["x": [1, 64]])
        XCTAssertGreaterThan(unlimited.arenaBytes, 0)
        let need = unlimited.arenaBytes + unlimited.workspaceBytes
        XCTAssertNoThrow(try Plan(graph: g, inputShapes: ["x": [1, 64]], maxMemoryBytes: need))
        XCTAssertThrowsError(try Plan(graph: g, inputShapes: ["x": [1, 64]], maxMemoryBytes: need - 1)) { e in
            XCTAssertTrue("\(e)".contains("above the limit"), "\(e)")
            XCTAssertTrue("\(e)".contains("graph '\(g.name)'"), "\(e)")
        }
        let runner = ModelRunner(model: model, threads: 1, maxMemoryBytes: need - 1)
        XCTAssertThrowsError(try runner.run(graph: g.name, inputs: ["x": Tensor(dtype: .float32, shape: [1, 64])]))
    }
}
