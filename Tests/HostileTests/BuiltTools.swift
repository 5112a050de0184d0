import Foundation
import TestSupport
import XCTest

/// The CLIs built next to the test bundle (`swift build --build-tests` builds them; a
/// sanitizer build in another scratch path has its own), run as a user would.
enum BuiltTools {
    static let folder: URL = {
        let beside = Bundle.main.executableURL?.deletingLastPathComponent()
        for candidate in [beside, Bundle.main.bundleURL, repositoryRoot.appendingPathComponent(".build/debug")] {
            if let c = candidate, FileManager.default.isExecutableFile(atPath: c.appendingPathComponent("lseg-run").path) { return c }
        }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }()

    static func url(_ tool: String) -> URL { folder.appendingPathComponent(tool) }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
    }

    /// Runs `tool` with `arguments` to completion; output goes through files (no pipe deadlock).
    static func run(_ tool: String, _ arguments: [String]) throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = url(tool)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus,
                       stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// A fresh empty folder for one test's outputs.
    static func scratchFolder(_ label: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}

/// The committed malformed-input corpus (Corpus/make.py).
enum HostileCorpus {
    static let root = repositoryRoot.appendingPathComponent("Tests/HostileTests/Corpus")
    static func files(_ folder: String, extensions: Set<String>) -> [URL] {
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().filter { extensions.contains(($0 as NSString).pathExtension) }.map { dir.appendingPathComponent($0) }
    }
    static var basePack: URL { root.appendingPathComponent("base/model.pack") }
    static var baseONNX: URL { root.appendingPathComponent("base/model.onnx") }
    static var baseInput: URL { root.appendingPathComponent("base/x.npy") }
}
