import Foundation
@testable import Runtime
import TestSupport
import XCTest

final class PackAtomicWriteTests: XCTestCase {
    private func leftovers(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }
    }

    /// A write that fails half way (the file-size limit makes write(2) fail with EFBIG) leaves the
    /// previous pack at the path untouched and no temporary file behind.
    func testFailedWriteKeepsOldFile() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        let before = try Data(contentsOf: url)

        var g = Graph(name: "main")
        g.initializers["big"] = PackFixtures.tensor(.float32, [256 * 1024], seed: 3)  // 1 MB, incompressible
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limit = old
        limit.rlim_cur = 256 * 1024
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        var thrown: Error?
        do { try Pack.write(Model(graphs: [g]), to: url.path) } catch { thrown = error }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, previousHandler)

        guard case .io(let file, let what)? = thrown as? RuntimeError else {
            return XCTFail("expected an io error, got \(String(describing: thrown))")
        }
        XCTAssertEqual(file, url.path)
        XCTAssertTrue(what.contains("write failed"), what)
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try leftovers(folder), [])
        XCTAssertEqual(try Pack.read(url.path).graphs.count, 2)
    }

    func testMissingFolderIsAnIOError() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("no/such/dir/m.pack")
        XCTAssertThrowsError(try Pack.write(PackFixtures.model(), to: url.path)) { error in
            guard case .io(let file, let what)? = error as? RuntimeError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertTrue(what.contains("temporary file"), what)
        }
        XCTAssertEqual(try leftovers(folder), [])
    }

    func testDuplicateGraphNamesAreRefusedBeforeWriting() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        let model = Model(graphs: [Graph(name: "main"), Graph(name: "main")])
        assertBadPack(["two graphs are named 'main'"]) { try Pack.write(model, to: url.path) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
        XCTAssertEqual(try leftovers(folder), [])
    }

    func testOverwriteReplacesFile() throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("m.pack")
        try Pack.write(PackFixtures.model(), to: url.path)
        // Re-writing a model whose raw tensors borrow the mapping of the very file being replaced.
        let mapped = try Pack.read(url.path)
        try Pack.write(mapped, to: url.path)
        let again = try Pack.read(url.path)
        for (a, b) in zip(mapped.graphs, again.graphs) {
            for (name, t) in a.initializers { XCTAssertTrue(t.bitwiseEqual(b.initializers[name]!), name) }
        }
        try Pack.write(Model(graphs: [Graph(name: "main")]), to: url.path)
        XCTAssertEqual(try Pack.read(url.path).graphs.map(\.name), ["main"])
        XCTAssertEqual(try leftovers(folder), [])
    }
}
