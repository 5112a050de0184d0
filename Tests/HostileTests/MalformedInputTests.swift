import Foundation
import TestSupport
import XCTest

/// Every file of the malformed corpus, given to the built CLIs: each must exit with code 2,
/// print exactly one stderr line naming the file, and leave nothing behind.
final class MalformedInputTests: XCTestCase {
    /// What one rejection must look like; nil when it does, else what is wrong.
    func problem(_ o: BuiltTools.Outcome, file: URL, leftover: [URL]) -> String? {
        var issues: [String] = []
        if o.status != 2 { issues.append("exit \(o.status), want 2") }
        let lines = o.stderrLines
        if lines.count != 1 || !o.stderr.hasSuffix("\n") { issues.append("\(lines.count) stderr lines, want 1") }
        if !o.stderr.contains(file.lastPathComponent) { issues.append("stderr does not name the file") }
        for u in leftover where FileManager.default.fileExists(atPath: u.path) { issues.append("left \(u.lastPathComponent) behind") }
        return issues.isEmpty ? nil : "\(file.lastPathComponent): \(issues.joined(separator: "; ")) — stderr: \(o.stderr.prefix(300))"
    }

    /// Runs `check` on every file and fails once, listing every file that was not rejected properly.
    func rejectAll(_ files: [URL], what: String, check: (URL) throws -> String?) throws {
        XCTAssertGreaterThan(files.count, 10, "corpus folder for \(what) is missing: run Tests/HostileTests/Corpus/make.py")
        var failures: [String] = []
        for f in files { if let p = try check(f) { failures.append(p) } }
        print("hostile corpus: \(what): \(files.count - failures.count) of \(files.count) rejected properly")
        XCTAssert(failures.isEmpty, "\(failures.count) of \(files.count) \(what) not rejected properly:\n" + failures.joined(separator: "\n"))
    }

    func assertAccepted(_ o: BuiltTools.Outcome, _ what: String) {
        XCTAssertEqual(o.status, 0, "\(what) must be accepted (the mutations start from it): \(o.stderr)")
    }

    func testBaseInputsAreAccepted() throws {
        let dir = try BuiltTools.scratchFolder("base")
        defer { try? FileManager.default.removeItem(at: dir) }
        assertAccepted(try BuiltTools.run("lseg-convert", [HostileCorpus.baseONNX.path, "-o", dir.appendingPathComponent("m.pack").path, "--quiet"]), "base ONNX")
        assertAccepted(try BuiltTools.run("lseg-inspect", ["--verify", HostileCorpus.basePack.path]), "base pack")
        assertAccepted(try BuiltTools.run("lseg-run", ["exec", HostileCorpus.basePack.path, "--input", "x=\(HostileCorpus.baseInput.path)",
                                                       "--output-dir", dir.appendingPathComponent("out").path]), "base npy")
        // The converter reproduces the committed base pack byte for byte, so the corpus's
        // mutations were made from what the current writer produces.
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("m.pack")), try Data(contentsOf: HostileCorpus.basePack))
    }

    func testMalformedONNXIsRejectedByConvert() throws {
        let dir = try BuiltTools.scratchFolder("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        try rejectAll(HostileCorpus.files("onnx", extensions: ["onnx"]), what: "ONNX files") { f in
            let output = dir.appendingPathComponent("out.pack")
            let o = try BuiltTools.run("lseg-convert", [f.path, "-o", output.path, "--quiet"])
            let stray = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return problem(o, file: f, leftover: [output]) ?? (stray.isEmpty ? nil : "\(f.lastPathComponent): left \(stray) in the output folder")
        }
    }

    func testMalformedPacksAreRejectedByInspect() throws {
        try rejectAll(HostileCorpus.files("pack", extensions: ["pack"]), what: "packs (lseg-inspect --verify)") { f in
            problem(try BuiltTools.run("lseg-inspect", ["--verify", f.path]), file: f, leftover: [])
        }
    }

    func testMalformedPacksAreRejectedByRun() throws {
        let dir = try BuiltTools.scratchFolder("pack-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        try rejectAll(HostileCorpus.files("pack", extensions: ["pack"]), what: "packs (lseg-run exec)") { f in
            let out = dir.appendingPathComponent("out")
            return problem(try BuiltTools.run("lseg-run", ["exec", f.path, "--input", "x=\(HostileCorpus.baseInput.path)", "--output-dir", out.path]),
                           file: f, leftover: [out])
        }
    }

    func testMalformedNPYIsRejectedByRun() throws {
        let dir = try BuiltTools.scratchFolder("npy")
        defer { try? FileManager.default.removeItem(at: dir) }
        try rejectAll(HostileCorpus.files("npy", extensions: ["npy"]), what: ".npy inputs") { f in
            let out = dir.appendingPathComponent("out")
            return problem(try BuiltTools.run("lseg-run", ["exec", HostileCorpus.basePack.path, "--input", "x=\(f.path)", "--output-dir", out.path]),
                           file: f, leftover: [out])
        }
    }

    func testMalformedImagesAreRejectedBySegment() throws {
        let dir = try BuiltTools.scratchFolder("image")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pack = dir.appendingPathComponent("tiny.pack")
        let made = try BuiltTools.run("lseg-convert", [repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx").path, "-o", pack.path, "--quiet",
                                                       "--vocab", repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz").path])
        XCTAssertEqual(made.status, 0, "converting the golden tiny model: \(made.stderr)")
        let good = try BuiltTools.run("lseg-run", ["segment", pack.path, repositoryRoot.appendingPathComponent("golden/photos/camera.png").path,
                                                   "--labels", "sky,other", "-o", dir.appendingPathComponent("good.png").path])
        assertAccepted(good, "a golden photo")
        try rejectAll(HostileCorpus.files("image", extensions: ["png", "jpg"]), what: "images (lseg-run segment)") { f in
            let mask = dir.appendingPathComponent("mask.png"), overlay = dir.appendingPathComponent("overlay.png")
            return problem(try BuiltTools.run("lseg-run", ["segment", pack.path, f.path, "--labels", "sky,other", "-o", mask.path, "--overlay", overlay.path]),
                           file: f, leftover: [mask, overlay])
        }
    }
}
