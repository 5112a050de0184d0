import Foundation
import Runtime
import TestSupport
import XCTest

/// lseg-convert killed (SIGKILL) at seeded random moments: the output path holds nothing, the
/// pack that was there before, or the complete new pack; never a partial file. A killed run can
/// leave its temporary file (`.<name>.<pid>.<random>.tmp`, named with the dead pid); the next
/// write to the same destination removes such files of processes that no longer exist.
final class AtomicOutputTests: XCTestCase {
    func testKilledConversionNeverLeavesABrokenPack() throws {
        let dir = try BuiltTools.scratchFolder("atomic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let onnx = repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx").path
        let vocab = repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz").path
        let output = dir.appendingPathComponent("lseg.pack")
        let arguments = [onnx, "-o", output.path, "--vocab", vocab, "--quiet"]

        // A complete run: the bytes every finished run must produce, and how long it takes.
        let start = Date()
        let full = try BuiltTools.run("lseg-convert", arguments)
        let fullSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(full.status, 0, full.stderr)
        let complete = try Data(contentsOf: output)
        let previous = try Data(contentsOf: HostileCorpus.basePack)  // stands for an older pack at the path

        var rng = SeededRandom(seed: 2024)
        var outcomes: [String: Int] = [:]
        var killedPids: [Int32] = []
        for round in 0..<24 {
            let hadPrevious = round % 2 == 0
            try? FileManager.default.removeItem(at: output)
            if hadPrevious { try previous.write(to: output) }
            let p = Process()
            p.executableURL = BuiltTools.url("lseg-convert")
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
                XCTAssertFalse(hadPrevious, "round \(round): the existing pack was removed")
            case previous?:
                state = "previous pack"
                XCTAssertTrue(hadPrevious, "round \(round): impossible state")
            case complete?:
                state = "complete pack"
                XCTAssertNoThrow(try Pack.read(output), "round \(round)")
            default:
                state = "damaged"
                XCTFail("round \(round) (killed: \(killed), after \(delay) s): the output path holds \(now!.count) bytes that are neither the old nor the new pack")
            }
            outcomes[state, default: 0] += 1
            // Only killed processes' own temporary files may remain (a run killed before it
            // reached the writer has not cleaned up earlier ones yet).
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name != output.lastPathComponent {
                XCTAssertTrue(killedPids.contains { name.hasPrefix(".lseg.pack.\($0).") } && name.hasSuffix(".tmp"),
                              "round \(round): unexpected file \(name)")
            }
        }
        print("atomic output: 24 killed conversions: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")

        // A finished run cleans up the temporary files that killed runs left.
        XCTAssertEqual(try BuiltTools.run("lseg-convert", arguments).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [output.lastPathComponent])
        XCTAssertEqual(try Data(contentsOf: output), complete)
    }
}
