import Foundation
import TestSupport
import XCTest

/// The device build (lseg-run, the LSegRuntime library and the C API library) must not pull in
/// the workstation modules: checked on the manifest as SwiftPM itself reads it
/// (`swift package dump-package`), following target dependencies transitively.
final class DeviceProductTests: XCTestCase {
    static let forbidden: Set<String> = ["Convert", "Quantize", "COnnx"]

    /// Manifest targets as name -> (dependency names, linked system libraries), and products as
    /// name -> target names.
    static func manifest() throws -> (targets: [String: (deps: [String], libraries: [String])], products: [String: [String]]) {
        let swift = ProcessInfo.processInfo.environment["PATH"].flatMap { path in
            path.split(separator: ":").map { "\($0)/swift" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        } ?? "/usr/bin/swift"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: swift)
        // A scratch path of its own: the default .build is locked by the running `swift test`.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-dump-\(getpid())")
        p.arguments = ["package", "--package-path", repositoryRoot.path, "--scratch-path", scratch.path, "dump-package"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try? FileManager.default.removeItem(at: scratch)
        XCTAssertEqual(p.terminationStatus, 0, "swift package dump-package failed")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var targets: [String: (deps: [String], libraries: [String])] = [:]
        for t in try XCTUnwrap(json["targets"] as? [[String: Any]]) {
            let name = try XCTUnwrap(t["name"] as? String)
            var deps: [String] = []
            for d in t["dependencies"] as? [[String: Any]] ?? [] {
                // {"byName": [name, condition]}, {"target": [...]} or {"product": [name, package, ...]}
                for key in ["byName", "target", "product"] {
                    if let list = d[key] as? [Any], let first = list.first as? String { deps.append(key == "product" ? "product:\(first)" : first) }
                }
            }
            var libraries: [String] = []
            for s in t["settings"] as? [[String: Any]] ?? [] {
                if let kind = s["kind"] as? [String: Any], let lib = kind["linkedLibrary"] as? [String: Any], let l = lib["_0"] as? String {
                    libraries.append(l)
                }
            }
            targets[name] = (deps, libraries)
        }
        var products: [String: [String]] = [:]
        for p in try XCTUnwrap(json["products"] as? [[String: Any]]) {
            products[try XCTUnwrap(p["name"] as? String)] = p["targets"] as? [String] ?? []
        }
        return (targets, products)
    }

    /// Every target reachable from `roots` (packages' products are leaves named "product:X").
    static func closure(_ roots: [String], _ targets: [String: (deps: [String], libraries: [String])]) -> Set<String> {
        var seen = Set<String>(), stack = roots
        while let t = stack.popLast() {
            guard seen.insert(t).inserted else { continue }
            stack += targets[t]?.deps ?? []
        }
        return seen
    }

    func testDeviceProductsExcludeWorkstationModules() throws {
        let m = try Self.manifest()
        // The check must see the workstation tools' dependencies, or it proves nothing.
        XCTAssertTrue(Self.closure(["lseg-convert"], m.targets).isSuperset(of: ["Convert", "COnnx"]))
        XCTAssertTrue(Self.closure(["lseg-quantize"], m.targets).contains("Quantize"))

        let device: [(String, [String])] = [
            ("lseg-run", ["lseg-run"]),
            ("LSegRuntime", try XCTUnwrap(m.products["LSegRuntime"])),
            ("lseg", try XCTUnwrap(m.products["lseg"])),
        ]
        for (product, roots) in device {
            XCTAssertFalse(roots.isEmpty, product)
            let reach = Self.closure(roots, m.targets)
            XCTAssertTrue(reach.isSuperset(of: ["Runtime", "LSeg"]), "\(product): \(reach.sorted())")
            XCTAssertTrue(reach.isDisjoint(with: Self.forbidden), "\(product) depends on \(reach.intersection(Self.forbidden).sorted())")
            let libraries = Set(reach.flatMap { m.targets[$0]?.libraries ?? [] })
            XCTAssertFalse(libraries.contains("protobuf-c"), "\(product) links \(libraries.sorted())")
            // No package at all: swift-argument-parser imports Foundation, which would be linked in.
            let packages = reach.filter { $0.hasPrefix("product:") }
            XCTAssertTrue(packages.isEmpty, "\(product) uses \(packages.sorted())")
        }
        XCTAssertEqual(Set(try XCTUnwrap(m.products["LSegRuntime"])), ["Runtime", "LSeg"])
    }

    /// The device modules import neither Foundation nor FoundationEssentials nor ArgumentParser
    /// (which imports Foundation): FoundationEssentials alone linked about 4 MB into the static
    /// device binaries, and all of Foundation brings ICU's 34 MB data table.
    func testDeviceSourcesImportNoFoundation() throws {
        var checked = 0
        for module in ["Runtime", "LSeg", "LSegC", "lseg-run"] {
            let folder = repositoryRoot.appendingPathComponent("Sources/\(module)")
            let files = try XCTUnwrap(FileManager.default.enumerator(atPath: folder.path)).compactMap { $0 as? String }
            for file in files where file.hasSuffix(".swift") {
                let lines = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                    .split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                for (n, line) in lines.enumerated() where Self.importsForbiddenModule(line) {
                    XCTFail("Sources/\(module)/\(file):\(n + 1): \(line) (device modules use Glibc and Runtime's FileIO, JSONCoding, SystemClock instead)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 40, "too few device sources found")
        // The check must recognise the forms it is meant to catch.
        XCTAssertTrue(Self.importsForbiddenModule("import Foundation"))
        XCTAssertTrue(Self.importsForbiddenModule("@preconcurrency import Foundation"))
        XCTAssertTrue(Self.importsForbiddenModule("import struct Foundation.URL"))
        XCTAssertTrue(Self.importsForbiddenModule("import FoundationEssentials"))
        XCTAssertTrue(Self.importsForbiddenModule("@_implementationOnly import FoundationEssentials"))
        XCTAssertTrue(Self.importsForbiddenModule("import ArgumentParser"))
        XCTAssertFalse(Self.importsForbiddenModule("import Glibc"))
        XCTAssertFalse(Self.importsForbiddenModule("// import Foundation"))
    }

    static func importsForbiddenModule(_ line: String) -> Bool {
        line.range(of: #"^(@\w+\s+)*import\s+((struct|class|enum|func|var|let|protocol|typealias)\s+)?(Foundation|FoundationEssentials|FoundationInternationalization|ArgumentParser)(\.|\s|$)"#,
                   options: .regularExpression) != nil
    }

    /// Shared-library dependencies of a binary, as ldd prints them (first word of each line).
    static func sharedLibraries(_ path: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "ldd \(path) failed")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { $0.split(separator: " ").first.map { String($0.trimmingCharacters(in: .whitespaces)) } }
    }

    /// The static device build of scripts/build-device (scripts/test makes it before the suite):
    /// no Swift runtime, Foundation or ICU library is loaded, and no ICU data table is linked in.
    /// A missing or stale device build fails, naming the command that makes it.
    func testStaticDeviceBinariesLoadNoSwiftLibraries() throws {
        let folder = repositoryRoot.appendingPathComponent(".build/device/release")
        let paths = ["lseg-run", "liblseg.so"].map { folder.appendingPathComponent($0).path }
        guard paths.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else {
            XCTFail("no device build in .build/device: run scripts/build-device (scripts/test does)")
            return
        }
        // A device build older than the sources says nothing about them.
        let built = try paths.map { try XCTUnwrap(FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date) }.min()!
        for module in ["Runtime", "LSeg", "LSegC", "lseg-run"] {
            let folder = repositoryRoot.appendingPathComponent("Sources/\(module)")
            for file in try XCTUnwrap(FileManager.default.enumerator(atPath: folder.path)).compactMap({ $0 as? String }) where file.hasSuffix(".swift") {
                let changed = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(file).path)[.modificationDate] as? Date
                if let changed, changed > built {
                    XCTFail("the device build in .build/device is older than Sources/\(module)/\(file): run scripts/build-device")
                    return
                }
            }
        }
        for path in paths {
            let libraries = try Self.sharedLibraries(path)
            XCTAssertTrue(libraries.contains { $0.hasPrefix("libc.so") }, "\(path): ldd output not understood: \(libraries)")
            for library in libraries {
                XCTAssertFalse(library.hasPrefix("libswift") || library.hasPrefix("libdispatch") || library.hasPrefix("libBlocksRuntime")
                               || library.contains("Foundation") || library.hasPrefix("libicu"), "\(path) loads \(library)")
            }
            // ICU's data table is one symbol, icudt<version>_dat; a stripped binary would hide it, so look at the bytes too.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            XCTAssertNil(bytes.range(of: Data("icudt".utf8)), "\(path) contains ICU")
            // Swift type metadata names its module: none from Foundation or ArgumentParser may be linked in.
            for module in ["FoundationEssentials", "FoundationInternationalization", "ArgumentParser"] {
                XCTAssertNil(bytes.range(of: Data(module.utf8)), "\(path) contains code from \(module)")
            }
        }
    }
}
