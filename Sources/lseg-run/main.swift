import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LSeg
import Runtime

@main
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lseg-run",
        abstract: "Runs a .pack: segment images for text labels, or execute a graph on .npy inputs.",
        subcommands: [Segment.self, Exec.self, Compare.self])
}

/// Prints one line on stderr and exits 2 for bad input, 1 otherwise.
func fail(_ tool: String, _ error: Error) -> ExitCode {
    var line = "\(tool): \(error)\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    let input = error is LSegError || error is RuntimeError || error is ValidationError
    return ExitCode(input ? 2 : 1)
}

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segments images into the given labels; writes palette mask PNGs (pixel value = label index).",
        discussion: """
            Frames are segmented in order with one plan and one set of text features; each line gives the
            frame's latency, and with more than one frame a last line sums them up (first, median and worst
            latency, peak resident memory).
            """)

    @Argument(help: "The pack.")
    var pack: String

    @Argument(help: "Images (PNG or JPEG), or folders of them (taken in name order).")
    var images: [String]

    @Option(help: "Comma-separated labels, e.g. \"dog,tree,other\" (default: a label-baked pack's own).")
    var labels: String?

    @Option(name: .shortAndLong, help: "Mask PNG to write; a folder when several images are given.")
    var output: String?

    @Option(help: "Overlay PNG (photo, mask and legend); a folder when several images are given.")
    var overlay: String?

    @Option(name: .customLong("max-memory"), help: "Refuse to run a graph needing more than this many MB of working memory (arena + workspace, weights not included).")
    var maxMemory: Int?

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Keep the pack's mapped weights resident once read (by default each run drops a weight's pages after its node, so at most about one node's weights are resident at a time; set LSEG_RSS_TRACE to see memory per phase).")
    var keepWeightPages = false

    func run() throws {
        do { try segment() } catch let e as ExitCode { throw e } catch { throw fail("lseg-run segment", error) }
    }

    func target(_ path: String?, for image: String, suffix: String, frames: Int) throws -> String? {
        guard let path else { return nil }
        guard frames > 1 else { return path }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let stem = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
        return URL(fileURLWithPath: path).appendingPathComponent("\(stem)-\(suffix).png").path
    }

    /// The image files: each argument, or the PNG/JPEG files in it (sorted) when it is a folder.
    static func frames(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        for a in arguments {
            var isDir = false
            guard FileManager.default.fileExists(atPath: a, isDirectory: &isDir) else { throw LSegError.io(file: a, what: "no such file or folder") }
            guard isDir else { out.append(a); continue }
            let names = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
            let found = names.filter { ["png", "jpg", "jpeg"].contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
            guard !found.isEmpty else { throw LSegError.io(file: a, what: "folder holds no PNG or JPEG files") }
            out += found.map { URL(fileURLWithPath: a).appendingPathComponent($0).path }
        }
        return out
    }

    func segment() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        var given: [String]?
        if let labels {
            given = labels.split(separator: ",").map { TextCleaning.trimmingBlanks($0) }.filter { !$0.isEmpty }
            guard given?.isEmpty == false else { throw ValidationError("--labels is empty") }
        }
        let frames = try Self.frames(images)
        MemoryTrace.mark("start")
        let segmenter = try Segmenter(packAt: URL(fileURLWithPath: pack), threads: threads)
        MemoryTrace.mark("pack read")
        segmenter.runner.maxMemoryBytes = try maxMemoryBytes(maxMemory)
        segmenter.releasesWeightPages = !keepWeightPages
        let names = try segmenter.resolveLabels(given)
        guard names.count <= Palette.colours.count else { throw ValidationError("at most \(Palette.colours.count) labels") }
        var latencies: [Double] = []
        for path in frames {
            let image = try ImageIO.read(path: path)
            MemoryTrace.mark("image read")
            let t0 = ResourceUsage.now()
            let r = try segmenter.segment(image, labels: names)
            let ms = (ResourceUsage.now() - t0) * 1000
            MemoryTrace.mark("segmented")
            if MemoryTrace.enabled {
                let mb = { (b: Int) in NumberText.fixed(Double(b) / 1e6, digits: 1) }
                MemoryTrace.note("prepared weight layouts \(mb(segmenter.runner.prepared.byteCount)) MB, mapped weight pages released \(mb(segmenter.releasedWeightBytes)) MB")
            }
            latencies.append(ms)
            if let out = try target(output, for: path, suffix: "mask", frames: frames.count) {
                let bytes = try ImageIO.encodeLabelPNG(labels: r.labelMap.map { UInt8($0) }, width: r.width, height: r.height,
                                                       palette: Array(Palette.colours.prefix(names.count)), name: out)
                try ImageIO.write(bytes, to: out)
            }
            if let out = try target(overlay, for: path, suffix: "overlay", frames: frames.count) {
                let picture = try LSeg.overlay(image, labelMap: r.labelMap, labels: names)
                try ImageIO.write(try ImageIO.encodePNG(picture, name: out), to: out)
            }
            let shares = zip(names, r.shares).filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
                .map { "\($0.0) \(NumberText.fixed(Double($0.1) * 100, digits: 1))%" }.joined(separator: ", ")
            print("\(path) \(r.width)x\(r.height): \(shares) (\(NumberText.fixed(ms, digits: 1)) ms)")
        }
        // The first frame also plans and computes text features; the rest reuse them.
        let rest = latencies.dropFirst().sorted()
        guard let worst = rest.last else { return }
        func ms(_ v: Double) -> String { NumberText.fixed(v, digits: 1) + " ms" }
        print("frames \(latencies.count), threads \(threads): first \(ms(latencies[0])), median \(ms(rest[rest.count / 2])),"
              + " max \(ms(worst)) (after the first), peak RSS \(NumberText.fixed(Double(ResourceUsage.peakRSS) / 1e6, digits: 1)) MB")
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs a graph on .npy inputs and writes each output as OUTPUT_DIR/NAME.npy.")

    @Argument(help: "The pack.")
    var pack: String

    @Option(help: "Graph to run (default: all graphs in sequence, as the original export).")
    var graph: String?

    @Option(name: .customLong("input"), help: "NAME=file.npy, once per input.")
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: "Folder for the outputs.")
    var outputDir: String

    @Option(name: .customLong("max-memory"), help: "Refuse to run a graph needing more than this many MB of working memory (arena + workspace, weights not included).")
    var maxMemory: Int?

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Print every node with its output shape and statistics.")
    var trace = false

    func run() throws {
        do { try exec() } catch let e as ExitCode { throw e } catch { throw fail("lseg-run exec", error) }
    }

    func exec() throws {
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--input wants NAME=file.npy, got '\(spec)'") }
            feeds[String(spec[..<eq])] = try NPY.read(path: String(spec[spec.index(after: eq)...]))
        }
        let model = try Pack.read(URL(fileURLWithPath: pack))
        // Structural faults (cycles, dangling values) reported against the file, not a node.
        try Pack.verifyGraphs(Pack.readDirectory(URL(fileURLWithPath: pack)), file: pack)
        let runner = ModelRunner(model: model, threads: threads, maxMemoryBytes: try maxMemoryBytes(maxMemory))
        if trace { runner.observer = { node, outs in print(Trace.line(node, outs)) } }
        let outs = try graph.map { try runner.run(graph: $0, inputs: feeds) } ?? runner.runAll(inputs: feeds)
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        for (name, t) in outs.sorted(by: { $0.key < $1.key }) {
            let path = URL(fileURLWithPath: outputDir).appendingPathComponent(Trace.fileName(name) + ".npy").path
            try NPY.write(t, to: path)
            print("\(path): \(t.dtype) \(t.shape)")
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs a pack on reference inputs and names the first node whose output diverges from reference tensors.",
        discussion: """
            The reference folder holds index.json and .npy files, e.g. ONNX Runtime's value of every intermediate
            (golden/make writes them: golden/intermediates/<case>/index.json). index.json is either
            {"inputs": {name: file}, "tensors": {name: file}} or golden's form {"tensors": [{"tensor": name,
            "file": path, "stride": k}]} (a tensor stored as every k-th element), with inputs given by --input.
            File paths are relative to the folder or to one of its parents.
            """)

    @Argument(help: "The pack.")
    var pack: String

    @Option(help: "Reference folder (with index.json).")
    var reference: String

    @Option(name: .customLong("input"), help: "NAME=file.npy, once per input (added to those index.json names).")
    var inputs: [String] = []

    @Option(help: "Graph to run (default: all graphs in sequence).")
    var graph: String?

    @Option(help: "Relative tolerance: a node diverges when max |ours - ref| > tol * max |ref|.")
    var tolerance: Float = 1e-4

    func run() throws {
        do { try compare() } catch let e as ExitCode { throw e } catch { throw fail("lseg-run compare", error) }
    }

    /// `relative` under the reference folder or the nearest parent that has it.
    func locate(_ relative: String, from folder: URL) -> URL {
        var dir = folder
        for _ in 0..<6 {
            let u = dir.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: u.path) { return u }
            dir.deleteLastPathComponent()
        }
        return folder.appendingPathComponent(relative)
    }

    func compare() throws {
        let folder = URL(fileURLWithPath: reference)
        let indexURL = folder.appendingPathComponent("index.json")
        let index: ReferenceIndex
        let indexData = try Data(contentsOf: indexURL)
        do { index = try JSONDecoder().decode(ReferenceIndex.self, from: indexData) } catch {
            throw LSegError.badArgument("\(indexURL.path): not a JSON object of the reference index form (\(error))")
        }
        var feeds: [String: Tensor] = [:]
        for (name, file) in index.inputs ?? [:] { feeds[name] = try NPY.read(path: locate(file, from: folder).path) }
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--input wants NAME=file.npy, got '\(spec)'") }
            feeds[String(spec[..<eq])] = try NPY.read(path: String(spec[spec.index(after: eq)...]))
        }
        var refs: [String: (file: URL, stride: Int)] = [:]
        switch index.tensors {
        case .byName(let map):
            for (name, file) in map { refs[name] = (locate(file, from: folder), 1) }
        case .list(let list):
            for t in list {
                guard let name = t.tensor, let file = t.file else { continue }
                refs[name] = (locate(file, from: folder), max(1, t.stride ?? 1))
            }
        case nil:
            throw LSegError.badArgument("\(indexURL.path): no \"tensors\"")
        }
        let model = try Pack.read(URL(fileURLWithPath: pack))
        let runner = ModelRunner(model: model, threads: 1)
        var checked = 0
        var firstBad: String?
        let tol = tolerance
        runner.observer = { node, outs in
            guard firstBad == nil else { return }
            for (name, view) in zip(node.outputs, outs) {
                guard let ref = refs[name], let t = try? NPY.read(path: ref.file.path) else { continue }
                checked += 1
                if let problem = Trace.divergence(view, t, stride: ref.stride, tolerance: tol) {
                    firstBad = "node '\(node.name)' (\(node.op.typeName)) output '\(name)': \(problem)"
                    return
                }
            }
        }
        _ = try graph.map { try runner.run(graph: $0, inputs: feeds) } ?? runner.runAll(inputs: feeds)
        if let firstBad {
            print("first divergence: \(firstBad) (\(checked) tensors compared)")
            throw ExitCode(3)
        }
        print("all \(checked) tensors with a reference agree within \(tolerance) relative")
    }
}

/// --max-memory in MB as bytes (checked: positive, no overflow).
func maxMemoryBytes(_ mb: Int?) throws -> Int? {
    guard let mb else { return nil }
    guard mb > 0, mb <= Int.max / 1_000_000 else { throw ValidationError("--max-memory wants a positive number of MB") }
    return mb * 1_000_000
}

/// index.json of a reference folder (golden/intermediates): input files by name, and the reference
/// tensors either by name or as a list of {tensor, file, stride} entries.
struct ReferenceIndex: Decodable {
    enum Tensors: Decodable {
        case byName([String: String])
        case list([Entry])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let map = try? c.decode([String: String].self) { self = .byName(map) } else { self = .list(try c.decode([Entry].self)) }
        }
    }

    /// Entries missing a name or a file are skipped, as are fields of the wrong type.
    struct Entry: Decodable {
        var tensor: String?, file: String?, stride: Int?

        enum CodingKeys: String, CodingKey { case tensor, file, stride }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            tensor = try? c.decodeIfPresent(String.self, forKey: .tensor)
            file = try? c.decodeIfPresent(String.self, forKey: .file)
            stride = try? c.decodeIfPresent(Int.self, forKey: .stride)
        }
    }

    var inputs: [String: String]?
    var tensors: Tensors?

    enum CodingKeys: String, CodingKey { case inputs, tensors }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputs = try? c.decodeIfPresent([String: String].self, forKey: .inputs)
        tensors = try? c.decodeIfPresent(Tensors.self, forKey: .tensors)
    }
}

enum Trace {
    static func fileName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" })
    }

    static func line(_ node: Node, _ outs: [TensorView]) -> String {
        let parts = zip(node.outputs, outs).map { name, v -> String in
            var s = "\(name) \(v.dtype)\(v.shape)"
            if v.dtype == .float32, v.count > 0 {
                let p = v.pointer(Float.self)
                var lo = Float.infinity, hi = -Float.infinity, sum: Double = 0
                for i in 0..<v.count { lo = min(lo, p[i]); hi = max(hi, p[i]); sum += Double(p[i]) }
                func g(_ x: Double) -> String { NumberText.general(x, significant: 4) }
                s += " min \(g(Double(lo))) max \(g(Double(hi))) mean \(g(sum / Double(v.count)))"
            }
            return s
        }
        return "\(node.name) [\(node.op.typeName)] -> \(parts.joined(separator: "; "))"
    }

    /// nil when `v` matches `ref` (which may hold every `stride`-th element), else what differs.
    static func divergence(_ v: TensorView, _ ref: Tensor, stride: Int = 1, tolerance: Float) -> String? {
        let expected = (v.count + stride - 1) / stride
        if stride == 1 {
            guard v.shape == ref.shape else { return "shape \(v.shape), reference \(ref.shape)" }
        } else {
            guard ref.count == expected else { return "\(ref.count) reference values for \(v.count) elements at stride \(stride)" }
        }
        switch (v.dtype, ref.dtype) {
        case (.float32, .float32):
            let a = v.pointer(Float.self), b = ref.scalars(as: Float.self)
            var maxRef: Float = 0, maxErr: Float = 0, at = 0
            for i in 0..<b.count where b[i].isFinite { maxRef = max(maxRef, abs(b[i])) }
            for i in 0..<b.count {
                let x = a[i * stride]
                if b[i].isFinite != x.isFinite { return "element \(i * stride) is \(x), reference \(b[i])" }
                if b[i].isFinite, abs(x - b[i]) > maxErr { maxErr = abs(x - b[i]); at = i }
            }
            return maxErr > tolerance * max(maxRef, 1e-12) ? "max abs error \(maxErr) at element \(at * stride) (ours \(a[at * stride]), reference \(b[at])), max |ref| \(maxRef)" : nil
        default:
            guard v.dtype == ref.dtype else { return "dtype \(v.dtype), reference \(ref.dtype)" }
            guard stride == 1 else { return nil }
            return memcmp(v.data, ref.data, ref.byteCount) == 0 ? nil : "values differ"
        }
    }
}

/// With LSEG_RSS_TRACE set, prints the process's resident memory (total, anonymous, file-backed,
/// peak; from /proc/self/status) on stderr at the phases of a run, to see where the peak goes.
enum MemoryTrace {
    static let enabled = getenv("LSEG_RSS_TRACE") != nil

    static func note(_ text: String) {
        var line = "rss: \(text)\n"
        line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    static func mark(_ phase: String) {
        guard enabled, let f = fopen("/proc/self/status", "r") else { return }
        defer { fclose(f) }
        var fields: [String: String] = [:]
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { continue }
            let key = String(text[..<colon])
            guard ["VmRSS", "RssAnon", "RssFile", "VmHWM"].contains(key) else { continue }
            let kb = text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
            fields[key] = String(kb / 1000)
        }
        let items = ["VmRSS", "RssAnon", "RssFile", "VmHWM"].map { "\($0) \(fields[$0] ?? "?")" }.joined(separator: ", ")
        var report = "rss \(phase): \(items) MB\n"
        report.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
