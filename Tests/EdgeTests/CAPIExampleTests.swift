import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// Builds Examples/segment.c with the system C compiler against liblseg.so (the `lseg` product,
/// built by `swift build` next to this test binary) and runs it on the trained tiny model.
final class CAPIExampleTests: XCTestCase {
    struct Run { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ tool: String, _ arguments: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// The folder holding this test binary and the package's other build products.
    static var buildFolder: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Compiles the example once per process.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var example: String?

    static func exampleBinary() throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let example { return example }
        var folder = buildFolder
        // The xctest bundle may be a folder on some platforms: look beside it and above it.
        if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("liblseg.so").path) { folder.deleteLastPathComponent() }
        let library = folder.appendingPathComponent("liblseg.so")
        guard FileManager.default.fileExists(atPath: library.path) else {
            throw LSegError.io(file: library.path, what: "liblseg.so is not built: run `swift build --build-tests` before `swift test --skip-build` (scripts/test does)")
        }
        var compiler: String?
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"] {
            if let name = ["cc", "gcc", "clang"].first(where: { FileManager.default.isExecutableFile(atPath: "\(dir)/\($0)") }) {
                compiler = "\(dir)/\(name)"; break
            }
        }
        guard let compiler else { throw LSegError.io(file: "cc", what: "no C compiler on PATH (scripts/install-deps installs gcc)") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-segment-example-\(getpid())").path
        let r = try run(compiler, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-I", repositoryRoot.appendingPathComponent("include").path,
                                   repositoryRoot.appendingPathComponent("Examples/segment.c").path, "-L", folder.path, "-llseg",
                                   "-Wl,-rpath,\(folder.path)", "-o", out])
        guard r.status == 0 else { throw LSegError.io(file: "Examples/segment.c", what: "does not compile:\n\(r.stderr)") }
        example = out
        return out
    }

    /// Writes `image` as a binary PPM.
    static func writePPM(_ image: RGBImage, to url: URL) throws {
        try (Data("P6\n\(image.width) \(image.height)\n255\n".utf8) + Data(image.pixels)).write(to: url)
    }

    /// The pixels of a binary PGM written by the example.
    static func readPGM(_ url: URL) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        var fields: [String] = [], at = 0
        while fields.count < 4 {
            while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A { at += 1 }
            let start = at
            while at < bytes.count, bytes[at] != 0x20, bytes[at] != 0x0A { at += 1 }
            guard at < bytes.count else { throw LSegError.badArgument("\(url.path): truncated PGM header") }
            fields.append(String(decoding: bytes[start..<at], as: UTF8.self))
        }
        guard fields[0] == "P5", let w = Int(fields[1]), let h = Int(fields[2]), fields[3] == "255", bytes.count - at - 1 == w * h else {
            throw LSegError.badArgument("\(url.path): not the PGM expected (\(fields))")
        }
        return (w, h, Array(bytes[(at + 1)...]))
    }

    func testExampleSegmentsWithBakedAndGivenLabels() throws {
        let packs = try EdgeFixtures.packs()
        let example = try Self.exampleBinary()
        let image = try EdgeFixtures.scene("scene_001")
        let ppm = packs.folder.appendingPathComponent("scene_001.ppm"), pgm = packs.folder.appendingPathComponent("scene_001.pgm")
        try Self.writePPM(image, to: ppm)
        let expected = try Segmenter(packAt: packs.plain.path, threads: 2).segment(image, labels: EdgeFixtures.labels).labelMap.map { UInt8($0) }

        // Baked pack, no labels.
        var r = try Self.run(example, [packs.baked.path, ppm.path, pgm.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("baked labels: yes"), r.stdout)
        var mask = try Self.readPGM(pgm)
        XCTAssertEqual(mask.width, image.width)
        XCTAssertEqual(mask.height, image.height)
        XCTAssertEqual(mask.pixels, expected)
        for (i, label) in EdgeFixtures.labels.enumerated() {
            let n = expected.filter { $0 == UInt8(i) }.count
            XCTAssertTrue(r.stdout.contains("\(i) \(label): \(n) pixels"), r.stdout)
        }

        // Unbaked pack with the labels on the command line: the same mask.
        try FileManager.default.removeItem(at: pgm)
        r = try Self.run(example, [packs.plain.path, ppm.path, pgm.path] + EdgeFixtures.labels)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("baked labels: no"), r.stdout)
        mask = try Self.readPGM(pgm)
        XCTAssertEqual(mask.pixels, expected)
    }

    func testExampleReportsErrorsAsCodesAndMessages() throws {
        let packs = try EdgeFixtures.packs()
        let example = try Self.exampleBinary()
        let ppm = packs.folder.appendingPathComponent("errors.ppm"), pgm = packs.folder.appendingPathComponent("errors.pgm")
        try Self.writePPM(try EdgeFixtures.scene("scene_002"), to: ppm)
        // Other labels than the baked ones: LSEG_ERROR_LABELS (3), exit 2 + 3.
        var r = try Self.run(example, [packs.baked.path, ppm.path, pgm.path, "road", "car"])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("baked labels (red triangle, green circle, blue triangle, background)"), r.stderr)
        // An unbaked pack with no labels: LSEG_ERROR_LABELS too.
        r = try Self.run(example, [packs.plain.path, ppm.path, pgm.path])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("no labels given"), r.stderr)
        // Not a pack: LSEG_ERROR_PACK (2), exit 4, the message names the file.
        r = try Self.run(example, [ppm.path, ppm.path, pgm.path])
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("errors.ppm") && r.stderr.contains("not a pack"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pgm.path))
    }
}
