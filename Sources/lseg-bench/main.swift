import ArgumentParser
import Foundation
import Runtime

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lseg-bench",
        abstract: "Times Session.run on a pack (load and planning reported separately).")

    @Argument(help: "The pack to run.")
    var pack: String

    @Option(help: "Graph to time (default: every graph, in link order).")
    var graph: String?

    @Option(help: "Label count N for symbolic label dimensions.")
    var labels = 3

    @Option(help: "Image size HxW (default: the pack's preprocessing size).")
    var size: String?

    @Option(help: "Timed runs.")
    var runs = 5

    @Option(help: "Untimed warm-up runs (at least one is made: its time is reported as the first run).")
    var warmup = 1

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Also measure OpenBLAS sgemm GFLOP/s on the same threads (the fp32 ceiling).")
    var sgemm = false

    @Flag(help: "Run text towers at their full declared length (no causal truncation).")
    var fullLength = false

    @Flag(help: "For graphs the pack marks truncatable: also run at full length and report whether the outputs are bit-identical.")
    var checkTruncation = false

    @Option(help: "Write each graph's inputs (full length) and outputs of one run as raw little-endian files <graph>.<name>.bin into this folder (shapes in the JSON).")
    var dump: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "After timing, profile one run: time per op type and the slowest nodes, GFLOP/s of GEMMs and convolutions.")
    var profile = false

    @Option(help: "Slowest nodes the profile lists.")
    var profileNodes = 20

    func run() throws {
        do {
            try bench()
        } catch {
            FileHandle.standardError.write(Data("lseg-bench: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Times each step of one run through the session observer (called right after each step).
    func printProfile(_ session: Session, _ inputs: [String: Tensor]) throws {
        var perNode: [(name: String, op: String, ms: Double, gflop: Double)] = []
        var last = ResourceUsage.now()
        var stepIndex = 0
        let plan = session.plan
        session.observer = { node, _ in
            let now = ResourceUsage.now()
            let step = plan.steps[stepIndex]
            let gflop = Plan.flops(node.op, inputs: step.inputs.map { $0.map { plan.types[$0] } }, outputs: step.outputs.map { plan.types[$0] }) / 1e9
            perNode.append((node.name, node.op.typeName, (now - last) * 1000, gflop))
            stepIndex += 1
            last = ResourceUsage.now()
        }
        _ = try session.run(inputs)
        session.observer = nil
        let total = perNode.reduce(0) { $0 + $1.ms }
        var byOp: [String: (ms: Double, count: Int, gflop: Double)] = [:]
        for n in perNode {
            let e = byOp[n.op, default: (0, 0, 0)]
            byOp[n.op] = (e.ms + n.ms, e.count + 1, e.gflop + n.gflop)
        }
        print(String(format: "  profile of one run: %.1f ms in %d steps", total, perNode.count))
        for (op, e) in byOp.sorted(by: { $0.value.ms > $1.value.ms }) {
            let rate = e.gflop > 0 ? String(format: ", %.1f GFLOP, %.1f GFLOP/s", e.gflop, e.gflop / (e.ms / 1000)) : ""
            print(String(format: "    %-20@ %8.1f ms %5.1f%%  %4d nodes%@", op as NSString, e.ms, e.ms / total * 100, e.count, rate))
        }
        print("  slowest nodes:")
        for n in perNode.sorted(by: { $0.ms > $1.ms }).prefix(max(0, profileNodes)) {
            let rate = n.gflop > 0 ? String(format: " %.1f GFLOP/s", n.gflop / (n.ms / 1000)) : ""
            print(String(format: "    %8.2f ms  %@ (%@)%@", n.ms, n.name, n.op, rate))
        }
    }

    func bench() throws {
        if let dump {
            // Once, before the pack is read and any graph is timed.
            do {
                try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("--dump: cannot create the folder \(dump): \((error as NSError).localizedDescription)")
            }
        }
        let t0 = ResourceUsage.now()
        // Load = read the pack and make the runner (which packs Linear weights for this CPU). The
        // model goes straight to the runner, so the stored layout of packed weights is freed.
        let runner = ModelRunner(model: try Pack.read(pack, options: PackReadOptions(graphs: graph.map { [$0] })),
                                 threads: threads)
        let loadSeconds = ResourceUsage.now() - t0
        let model = runner.model
        let pre = model.metadata.preprocessing
        var h = pre?.height ?? 384, w = pre?.width ?? 384
        if let size {
            let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("--size wants HxW, e.g. 384x384") }
            h = parts[0]; w = parts[1]
        }
        runner.truncatesSequences = !fullLength
        let names = graph.map { [$0] } ?? runner.graphOrder
        var results: [[String: Any]] = []
        for name in names {
            guard let g = model.graph(named: name) else { throw ValidationError("no graph '\(name)' in \(pack)") }
            let shapes = SyntheticInputs.shapes(for: g, labels: labels, height: h, width: w)
            let fullInputs = SyntheticInputs.make(for: g, shapes: shapes)
            let p0 = ResourceUsage.now()
            // What ModelRunner.run executes: a text tower is cut to its longest end token.
            let (session, inputs) = try runner.preparedRun(graph: name, inputs: fullInputs)
            let planSeconds = ResourceUsage.now() - p0
            // The first run pays for weights prepared once (PreparedWeights) and cold caches.
            let f0 = ResourceUsage.now()
            _ = try session.run(inputs)
            let firstRunSeconds = ResourceUsage.now() - f0
            for _ in 1..<max(1, warmup) { _ = try session.run(inputs) }
            var times: [Double] = []
            for _ in 0..<max(1, runs) {
                let s = ResourceUsage.now()
                _ = try session.run(inputs)
                times.append((ResourceUsage.now() - s) * 1000)
            }
            times.sort()
            if profile && !json { try printProfile(session, inputs) }
            let runShapes = session.plan.inputIds.map { session.plan.types[$0].shape.map(String.init).joined(separator: "x") }
            var r: [String: Any] = [
                "graph": name, "shapes": shapes.mapValues { $0.map(String.init).joined(separator: "x") },
                "median_ms": times[times.count / 2], "min_ms": times.first!, "max_ms": times.last!,
                "runs": times.count, "plan_s": planSeconds, "first_run_s": firstRunSeconds, "arena_bytes": session.plan.arenaBytes,
                "gflop": session.plan.flops / 1e9, "run_shapes": runShapes,
            ]
            if checkTruncation, model.metadata.sequenceTruncation?[name] != nil {
                let cut = try session.run(inputs)
                runner.truncatesSequences = false
                let full = try runner.run(graph: name, inputs: fullInputs)
                runner.truncatesSequences = !fullLength
                r["truncation_bit_identical"] = full.allSatisfy { k, v in cut[k].map { $0.bitwiseEqual(v) } ?? false }
            }
            if let dump {
                let outs = try session.run(inputs)
                var files: [String: Any] = [:]
                for (k, t) in fullInputs.merging(outs, uniquingKeysWith: { a, _ in a }) {
                    let url = URL(fileURLWithPath: dump).appendingPathComponent("\(name).\(k.replacingOccurrences(of: "/", with: "_")).bin")
                    do {
                        try t.withUnsafeBytes { try Data($0).write(to: url) }
                    } catch {
                        throw ValidationError("--dump: cannot write \(url.path): \((error as NSError).localizedDescription)")
                    }
                    files[k] = ["file": url.path, "shape": t.shape, "dtype": "\(t.dtype)"] as [String: Any]
                }
                r["dump"] = files
            }
            results.append(r)
        }
        var summary: [String: Any] = [
            "pack": pack, "threads": threads, "load_s": loadSeconds, "peak_rss_bytes": ResourceUsage.peakRSS, "graphs": results,
        ]
        if sgemm { summary["sgemm_gflops"] = BLASCeiling.sgemmGFLOPS(threads: threads) }
        if json {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%@: load %.3f s, peak RSS %.1f MB, %d threads", pack, loadSeconds, Double(ResourceUsage.peakRSS) / 1e6, threads))
            for r in results {
                let median = r["median_ms"] as! Double, gflop = r["gflop"] as! Double
            print(String(format: "  %@: median %.2f ms (min %.2f, max %.2f, %d runs), plan %.3f s, arena %.1f MB, %.1f GFLOP (%.1f GFLOP/s)",
                         r["graph"] as! String, median, r["min_ms"] as! Double, r["max_ms"] as! Double,
                         r["runs"] as! Int, r["plan_s"] as! Double, Double(r["arena_bytes"] as! Int) / 1e6,
                         gflop, gflop / (median / 1000)))
            }
            if let g = summary["sgemm_gflops"] as? Double { print(String(format: "  OpenBLAS sgemm ceiling: %.1f GFLOP/s", g)) }
        }
    }
}
