import Convert
import Foundation
import LSeg
import Runtime
import TestSupport
import XCTest

/// One loaded Model shared by several ModelRunners on several threads gives exactly the
/// outputs of one runner at a time. Run under ThreadSanitizer by scripts/test-sanitizers.
final class SharedModelConcurrencyTests: XCTestCase {
    func testRunnersSharingOneModelAgreeWithSequentialRuns() throws {
        let dir = try BuiltTools.scratchFolder("concurrency")
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = Conversion.Options()
        options.hashSources = false
        let gz = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("golden/vocab/bpe_simple_vocab_16e6.txt.gz")))
        options.vocabulary = try Inflate.gunzip(gz, name: "vocab")
        let converted = try Conversion.convert(repositoryRoot.appendingPathComponent("golden/models/tiny/lseg.onnx"), options: options)
        let url = dir.appendingPathComponent("tiny.pack")
        try Pack.write(converted.model, to: url.path)
        let model = try Pack.read(url.path)

        var feeds: [String: Tensor] = [:]
        for g in model.graphs {
            let shapes = SyntheticInputs.shapes(for: g, labels: 3, height: 64, width: 64)
            feeds.merge(SyntheticInputs.make(for: g, shapes: shapes, seed: 7)) { a, _ in a }
        }
        let runner = ModelRunner(model: model, threads: 2)
        let external = Set(runner.externalInputs.map(\.name))
        let inputs = feeds.filter { external.contains($0.key) }
        let reference = try runner.runAll(inputs: inputs)
        XCTAssertFalse(reference.isEmpty)

        let workers = 4, rounds = 3
        let results = ResultBox(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let mine = ModelRunner(model: model, threads: 2)
            var outs: [[String: Tensor]] = []
            do {
                for _ in 0..<rounds { outs.append(try mine.runAll(inputs: inputs)) }
                results.set(w, .success(outs))
            } catch {
                results.set(w, .failure(error))
            }
        }
        for w in 0..<workers {
            let outs = try results.get(w).get()
            XCTAssertEqual(outs.count, rounds)
            for (r, out) in outs.enumerated() {
                XCTAssertEqual(Set(out.keys), Set(reference.keys))
                for (name, want) in reference {
                    guard let got = out[name] else { continue }
                    XCTAssertEqual(got.shape, want.shape, "worker \(w) round \(r) output \(name)")
                    XCTAssertTrue(got.byteCount == want.byteCount && memcmp(got.data, want.data, want.byteCount) == 0,
                                  "worker \(w) round \(r) output \(name) differs from the sequential run")
                }
            }
        }
    }
}

/// Per-worker results written from concurrent threads, each to its own slot.
final class ResultBox: @unchecked Sendable {
    private var slots: [Result<[[String: Tensor]], Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<[[String: Tensor]], Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    func get(_ i: Int) -> Result<[[String: Tensor]], Error> {
        lock.lock(); defer { lock.unlock() }
        return slots[i] ?? .failure(RuntimeError.unsupported("worker \(i) did not finish"))
    }
}
