import Foundation
import Runtime
import TestSupport
import XCTest

/// Measures pack write and read speed; prints figures, asserts only correctness.
/// Runs only with LSEG_PACK_BENCH=1 (best in release: swift test -c release -Xswiftc -enable-testing).
final class PackThroughputTests: XCTestCase {
    private func measure(_ label: String, _ graph: Graph, level: Int32 = 1) throws {
        let folder = try PackFixtures.folder(self)
        let url = folder.appendingPathComponent("bench.pack")
        let model = Model(graphs: [graph])
        let mb = Double(graph.initializers.values.reduce(0) { $0 + $1.byteCount }) / 1e6
        let c0 = cpuSeconds()
        let report = try Pack.write(model, to: url, options: PackWriteOptions(level: level))
        let c1 = cpuSeconds()
        let t0 = Date()
        let back = try Pack.read(url)
        let readSeconds = Date().timeIntervalSince(t0)
        let c2 = cpuSeconds()
        for (name, t) in graph.initializers { XCTAssertTrue(t.bitwiseEqual(back.graphs[0].initializers[name]!), name) }
        let codecs = report.codecCounts.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
        // Per CPU-second figures stay meaningful on a loaded machine; wall figures include fsync.
        print(String(format: "pack bench %@ level %d: %.0f MB, write %.0f MB/s wall %.0f MB/cpu-s, read %.0f MB/s wall %.0f MB/cpu-s, ratio %.3f (%@)",
                     label, level, mb, mb / report.seconds, mb / (c1 - c0), mb / readSeconds, mb / (c2 - c1), report.ratio, codecs))
    }

    private func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }

    private func gaussian(_ n: Int, seed: UInt64, std: Float) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in
            let u = Float.random(in: Float.ulpOfOne..<1, using: &rng), v = Float.random(in: 0..<1, using: &rng)
            return std * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    func testThroughput() throws {
        guard ProcessInfo.processInfo.environment["LSEG_PACK_BENCH"] == "1" else { throw XCTSkip("set LSEG_PACK_BENCH=1") }
        // A small pack to try lseg-inspect on.
        try Pack.write(PackFixtures.model(), to: URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("lseg-fixture.pack"))
        let perTensor = 1 << 20  // 4 MB of float32 each, 50 tensors: 200 MB
        var weights = Graph(name: "main")
        var uniform = Graph(name: "main")
        var smooth = Graph(name: "main")
        var rng = SeededRandom(seed: 1)
        for i in 0..<50 {
            let name = String(format: "w%02d", i)
            weights.initializers[name] = .float32(gaussian(perTensor, seed: UInt64(i), std: 0.02), shape: [1024, 1024])
            uniform.initializers[name] = .float32(rng.floats(perTensor), shape: [1024, 1024])
            smooth.initializers[name] = .float32((0..<perTensor).map { sin(Float($0) * 0.001 + Float(i)) }, shape: [1024, 1024])
        }
        var one = Graph(name: "main")
        one.initializers["big"] = .float32(gaussian(50 * perTensor, seed: 99, std: 0.02), shape: [50 * 1024, 1024])
        for level: Int32 in [1, 3] { try measure("gaussian weights 50x4MB", weights, level: level) }
        try measure("uniform [-1,1) 50x4MB", uniform)
        try measure("smooth sin 50x4MB", smooth)
        try measure("gaussian one 200MB tensor", one)
    }
}
