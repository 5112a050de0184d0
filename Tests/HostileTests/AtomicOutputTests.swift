import Foundation
import Runtime
import TestSupport
import XCTest

/// lseg-convert and lseg-quantize killed (SIGKILL) at seeded random moments: the output path
/// holds nothing, the pack that was there before, or the complete new pack; never a partial
/// file. A killed run can leave its temporary file (`.<name>.<pid>.<random>.tmp`, named with the
/// dead pid); the next write to the same destination removes such files of processes that no
/// longer exist.
final class AtomicOutputTests: XCTestCase {
    private var vocab: String { repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz").path }

    func testKilledConversionNeverLeavesABrokenPack() throws {
        let dir = try BuiltTools.scratchFolder("atomic-convert")
        defer { try? FileManager.default.removeItem(at: dir) }
        let onnx = repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx").path
        let output = dir.appendingPathComponent("lseg.pack")
        try killRounds(tool: "lseg-convert", arguments: [onnx, "-o", output.path, "--vocab", vocab, "--quiet"],
                       output: output, seed: 2024, rounds: 24)
    }

    func testKilledQuantizationNeverLeavesABrokenPack() throws {
        let dir = try BuiltTools.scratchFolder("atomic-quantize")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Calibration images in their own folder (the output folder must hold only packs).
        let calib = try BuiltTools.scratchFolder("atomic-calib")
        defer { try? FileManager.default.removeItem(at: calib) }
        for name in ["scene_000.png", "scene_001.png", "scene_002.png"] {
            try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("golden/scenes/\(name)"),
                                             to: calib.appendingPathComponent(name))
        }
        let source = calib.appendingPathComponent("tiny.pack")
        let onnx = repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx").path
        let converted = try BuiltTools.run("lseg-convert", [onnx, "-o", source.path, "--vocab", vocab, "--quiet"])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        let output = dir.appendingPathComponent("lseg.pack")
        try killRounds(tool: "lseg-quantize",
                       arguments: [source.path, "--calib", calib.path, "--mode", "int8", "--samples", "3",
                                   "--labels", "sky,grass,other", "-o", output.path],
                       output: output, seed: 7, rounds: 16)
    }

    /// Runs `tool` once to completion (the bytes every finished run must produce), then `rounds` times
    /// killed after a random delay, with and without an older pack at `output`.
    private func killRounds(tool: String, arguments: [String], output: URL, seed: UInt64, rounds: Int) throws {
        let dir = output.deletingLastPathComponent()
        let start = Date()
        let full = try BuiltTools.run(tool, arguments)
        let fullSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(full.status, 0, full.stderr)
        let complete = try Data(contentsOf: output)
        // A second complete run gives the same bytes, so "complete" below is well defined.
        XCTAssertEqual(try BuiltTools.run(tool, arguments).status, 0)
        XCTAssertEqual(try Data(contentsOf: output), complete, "\(tool) is not deterministic")
        let previous = try Data(contentsOf: HostileCorpus.basePack)  // stands for an older pack at the path

        var rng = SeededRandom(seed: seed)
        var outcomes: [String: Int] = [:]
        var killedPids: [Int32] = []
        for round in 0..<rounds {
            let hadPrevious = round % 2 == 0
            try? FileManager.default.removeItem(at: output)
            if hadPrevious { try previous.write(to: output) }
            let p = Process()
            p.executableURL = BuiltTools.url(tool)
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Delays spread over the whole run and past its end (a loaded machine starts slower).
            let delay = Double(rng.next() % 1000) / 1000 * fullSeconds * 1.6
            usleep(UInt32(delay * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            killedPids.append(p.processIdentifier)
            let killed = p.terminationReason == .uncaughtSignal

            let now = FileManager.default.contents(atPath: output.path)
            let state: String
            switch now {
            case nil:
                state = "nothing"
                XCTAssertFalse(hadPrevious, "\(tool) round \(round): the existing pack was removed")
            case previous?:
                state = "previous pack"
                XCTAssertTrue(hadPrevious, "\(tool) round \(round): impossible state")
            case complete?:
                state = "complete pack"
                XCTAssertNoThrow(try Pack.read(output.path), "\(tool) round \(round)")
            default:
                state = "damaged"
                XCTFail("\(tool) round \(round) (killed: \(killed), after \(delay) s): the output path holds \(now!.count) bytes that are neither the old nor the new pack")
            }
            outcomes[state, default: 0] += 1
            // Only killed processes' own temporary files may remain (a run killed before it
            // reached the writer has not cleaned up earlier ones yet).
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name != output.lastPathComponent {
                XCTAssertTrue(killedPids.contains { name.hasPrefix(".\(output.lastPathComponent).\($0).") } && name.hasSuffix(".tmp"),
                              "\(tool) round \(round): unexpected file \(name)")
            }
        }
        print("atomic output: \(rounds) killed \(tool) runs: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")

        // A finished run cleans up the temporary files that killed runs left.
        XCTAssertEqual(try BuiltTools.run(tool, arguments).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [output.lastPathComponent])
        XCTAssertEqual(try Data(contentsOf: output), complete)
    }
}
