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
            let packages = reach.filter { $0.hasPrefix("product:") }
            XCTAssertTrue(packages.isSubset(of: ["product:ArgumentParser"]), "\(product) uses \(packages.sorted())")
        }
        XCTAssertEqual(Set(try XCTUnwrap(m.products["LSegRuntime"])), ["Runtime", "LSeg"])
    }
}
