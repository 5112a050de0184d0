import Glibc
import LSeg
import Runtime

let tool = "lseg-run"
let abstract = "Runs a .pack: segment images for text labels, or execute a graph on .npy inputs."
let threadsDefault = ProcessorCount.active
let maxMemoryHelp = "Refuse to run a graph needing more than this many MB of working memory (arena + workspace, weights not included)."
/// Options segment and exec share.
let maxMemoryOption = OptionSpec(name: "max-memory", valueName: "max-memory", help: maxMemoryHelp)
let threadsOption = OptionSpec(name: "threads", valueName: "threads", help: "Threads (default: all cores).", defaultText: String(threadsDefault))

let segmentSpec = CommandSpec(
    name: "segment",
    abstract: "Segments images into the given labels; writes palette mask PNGs (pixel value = label index).",
    discussion: ArgumentParsing.wrap("""
        Frames are segmented in order with one plan and one set of text features; each line gives the \
        frame's latency, and with more than one frame a last line sums them up (first, median and worst \
        latency, peak resident memory).
        """, width: 80, indent: 0),
    positionals: [PositionalSpec(name: "pack", help: "The pack."),
                  PositionalSpec(name: "images", help: "Images (PNG or JPEG), or folders of them (taken in name order).", variadic: true)],
    options: [
        OptionSpec(name: "labels", valueName: "labels", help: "Comma-separated labels, e.g. \"dog,tree,other\" (default: a label-baked pack's own)."),
        OptionSpec(name: "output", short: "o", valueName: "output", help: "Mask PNG to write; a folder when several images are given."),
        OptionSpec(name: "overlay", valueName: "overlay", help: "Overlay PNG (photo, mask and legend); a folder when several images are given."),
        maxMemoryOption,
        threadsOption,
        OptionSpec(name: "keep-weight-pages", help: "Keep the pack's mapped weights resident once read (by default each run drops a weight's pages after its node, so at most about one node's weights are resident at a time; set LSEG_RSS_TRACE to see memory per phase)."),
    ])

let execSpec = CommandSpec(
    name: "exec",
    abstract: "Runs a graph on .npy inputs and writes each output as OUTPUT_DIR/NAME.npy.",
    positionals: [PositionalSpec(name: "pack", help: "The pack.")],
    options: [
        OptionSpec(name: "graph", valueName: "graph", help: "Graph to run (default: all graphs in sequence, as the original export)."),
        OptionSpec(name: "input", valueName: "input", help: "NAME=file.npy, once per input.", repeats: true),
        OptionSpec(name: "output-dir", valueName: "output-dir", help: "Folder for the outputs.", required: true),
        maxMemoryOption,
        threadsOption,
        OptionSpec(name: "trace", help: "Print every node with its output shape and statistics."),
    ])

let compareSpec = CommandSpec(
    name: "compare",
    abstract: "Runs a pack on reference inputs and names the first node whose output diverges from reference tensors.",
    discussion: ArgumentParsing.wrap("""
        The reference folder holds index.json and .npy files, e.g. ONNX Runtime's value of every intermediate \
        (golden/make writes them: golden/intermediates/<case>/index.json). index.json is either \
        {"inputs": {name: file}, "tensors": {name: file}} or golden's form {"tensors": [{"tensor": name, \
        "file": path, "stride": k}]} (a tensor stored as every k-th element), with inputs given by --input. \
        File paths are relative to the folder or to one of its parents.
        """, width: 80, indent: 0),
    positionals: [PositionalSpec(name: "pack", help: "The pack.")],
    options: [
        OptionSpec(name: "reference", valueName: "reference", help: "Reference folder (with index.json).", required: true),
        OptionSpec(name: "input", valueName: "input", help: "NAME=file.npy, once per input (added to those index.json names).", repeats: true),
        OptionSpec(name: "graph", valueName: "graph", help: "Graph to run (default: all graphs in sequence)."),
        OptionSpec(name: "tolerance", valueName: "tolerance", help: "Relative tolerance: a node diverges when max |ours - ref| > tol * max |ref|.", defaultText: "0.0001"),
    ])

let commands = [segmentSpec, execSpec, compareSpec]

func printOut(_ text: String) {
    var t = text
    t.withUTF8 { _ = Glibc.write(1, $0.baseAddress, $0.count) }
}

func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

/// Prints one line on stderr; exit code 2 for bad input, 1 otherwise.
func fail(_ command: String, _ error: Error) -> Int32 {
    printError("\(tool) \(command): \(error)")
    return error is LSegError || error is RuntimeError ? 2 : 1
}

/// Runs the command line; returns the exit code.
func main(_ args: [String]) -> Int32 {
    guard let first = args.first, first != "-h", first != "--help" else {
        printOut(ArgumentParsing.overview(tool, abstract: abstract, commands))
        return 0
    }
    if first == "help" {
        guard args.count > 1 else { printOut(ArgumentParsing.overview(tool, abstract: abstract, commands)); return 0 }
        guard let spec = commands.first(where: { $0.name == args[1] }) else {
            printError("\(tool): unknown subcommand '\(args[1])' (subcommands: \(commands.map(\.name).joined(separator: ", ")))")
            return 64
        }
        printOut(ArgumentParsing.help(tool, spec))
        return 0
    }
    guard let spec = commands.first(where: { $0.name == first }) else {
        printError("\(tool): unknown subcommand '\(first)' (subcommands: \(commands.map(\.name).joined(separator: ", ")); see '\(tool) --help')")
        return 64
    }
    let parsed: ParsedArguments
    do {
        guard let p = try ArgumentParsing.parse(Array(args.dropFirst()), for: spec) else {
            printOut(ArgumentParsing.help(tool, spec))
            return 0
        }
        parsed = p
    } catch {
        printError("\(tool) \(spec.name): \(error) (see '\(tool) \(spec.name) --help')")
        return 64
    }
    do {
        switch spec.name {
        case "segment": try Segment(parsed).segment()
        case "exec": try Exec(parsed).exec()
        default: return try Compare(parsed).compare()
        }
    } catch let e as UsageError {
        printError("\(tool) \(spec.name): \(e) (see '\(tool) \(spec.name) --help')")
        return 64
    } catch {
        return fail(spec.name, error)
    }
    return 0
}

struct Segment {
    var pack: String
    var images: [String]
    var labels: String?
    var output: String?
    var overlay: String?
    var maxMemory: Int?
    var threads: Int
    var keepWeightPages: Bool

    init(_ a: ParsedArguments) throws {
        pack = a.positional("pack")
        images = a.positionalList("images")
        labels = a.string("labels")
        output = a.string("output")
        overlay = a.string("overlay")
        maxMemory = try a.int("max-memory")
        threads = try a.int("threads") ?? threadsDefault
        keepWeightPages = a.flag("keep-weight-pages")
    }

    func target(_ path: String?, for image: String, suffix: String, frames: Int) throws -> String? {
        guard let path else { return nil }
        guard frames > 1 else { return path }
        do { try FileIO.createFolder(path) } catch { throw LSegError.io(file: path, what: "cannot create the folder: \(error)") }
        return PathText.appending("\(PathText.stem(image))-\(suffix).png", to: PathText.absolute(path))
    }

    /// The image files: each argument, or the PNG/JPEG files in it (sorted) when it is a folder.
    static func frames(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        for a in arguments {
            let found = FileIO.exists(a)
            guard found.exists else { throw LSegError.io(file: a, what: "no such file or folder") }
            guard found.isFolder else { out.append(a); continue }
            guard let names = FileIO.folderEntries(a)?.sorted() else { throw LSegError.io(file: a, what: "cannot read the folder") }
            let images = names.filter { ["png", "jpg", "jpeg"].contains(PathText.pathExtension($0).lowercased()) }
            guard !images.isEmpty else { throw LSegError.io(file: a, what: "folder holds no PNG or JPEG files") }
            out += images.map { PathText.appending($0, to: PathText.absolute(a)) }
        }
        return out
    }

    func segment() throws {
        guard threads > 0 else { throw LSegError.badArgument("--threads must be positive") }
        var given: [String]?
        if let labels {
            given = labels.split(separator: ",").map { TextCleaning.trimmingBlanks($0) }.filter { !$0.isEmpty }
            guard given?.isEmpty == false else { throw LSegError.badArgument("--labels is empty") }
        }
        let frames = try Self.frames(images)
        MemoryTrace.mark("start")
        let segmenter = try Segmenter(packAt: pack, threads: threads)
        MemoryTrace.mark("pack read")
        segmenter.runner.maxMemoryBytes = try maxMemoryBytes(maxMemory)
        segmenter.releasesWeightPages = !keepWeightPages
        let names = try segmenter.resolveLabels(given)
        guard names.count <= Palette.colours.count else { throw LSegError.badArgument("at most \(Palette.colours.count) labels") }
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

struct Exec {
    var pack: String
    var graph: String?
    var inputs: [String]
    var outputDir: String
    var maxMemory: Int?
    var threads: Int
    var trace: Bool

    init(_ a: ParsedArguments) throws {
        pack = a.positional("pack")
        graph = a.string("graph")
        inputs = a.strings("input")
        outputDir = a.string("output-dir") ?? ""
        maxMemory = try a.int("max-memory")
        threads = try a.int("threads") ?? threadsDefault
        trace = a.flag("trace")
    }

    func exec() throws {
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { throw LSegError.badArgument("--input wants NAME=file.npy, got '\(spec)'") }
            feeds[String(spec[..<eq])] = try NPY.read(path: String(spec[spec.index(after: eq)...]))
        }
        let model = try Pack.read(pack)
        // Structural faults (cycles, dangling values) reported against the file, not a node.
        try Pack.verifyGraphs(Pack.readDirectory(pack), file: pack)
        let runner = ModelRunner(model: consume model, threads: threads, maxMemoryBytes: try maxMemoryBytes(maxMemory))
        if trace { runner.observer = { node, outs in print(Trace.line(node, outs)) } }
        let outs = try graph.map { try runner.run(graph: $0, inputs: feeds) } ?? runner.runAll(inputs: feeds)
        do { try FileIO.createFolder(outputDir) } catch { throw LSegError.io(file: outputDir, what: "cannot create the folder: \(error)") }
        for (name, t) in outs.sorted(by: { $0.key < $1.key }) {
            let path = PathText.appending(Trace.fileName(name) + ".npy", to: PathText.absolute(outputDir))
            try NPY.write(t, to: path)
            print("\(path): \(t.dtype) \(t.shape)")
        }
    }
}

struct Compare {
    var pack: String
    var reference: String
    var inputs: [String]
    var graph: String?
    var tolerance: Float

    init(_ a: ParsedArguments) throws {
        pack = a.positional("pack")
        reference = a.string("reference") ?? ""
        inputs = a.strings("input")
        graph = a.string("graph")
        tolerance = try a.float("tolerance") ?? 1e-4
    }

    /// `relative` under the reference folder or the nearest parent that has it.
    func locate(_ relative: String, from folder: String) -> String {
        var dir = folder
        for _ in 0..<6 {
            let p = PathText.appending(relative, to: dir)
            if FileIO.exists(p).exists { return p }
            dir = PathText.parent(dir)
        }
        return PathText.appending(relative, to: folder)
    }

    /// Returns the exit code: 0 when every reference agrees, 3 at the first divergence.
    func compare() throws -> Int32 {
        let folder = PathText.absolute(reference)
        let indexPath = PathText.appending("index.json", to: folder)
        let index: ReferenceIndex
        guard let indexData = FileIO.contents(atPath: indexPath) else { throw LSegError.io(file: indexPath, what: "cannot read file") }
        do { index = try JSONCoding.decode(ReferenceIndex.self, from: indexData) } catch {
            throw LSegError.badArgument("\(indexPath): not a JSON object of the reference index form (\(error))")
        }
        var feeds: [String: Tensor] = [:]
        for (name, file) in index.inputs ?? [:] { feeds[name] = try NPY.read(path: locate(file, from: folder)) }
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { throw LSegError.badArgument("--input wants NAME=file.npy, got '\(spec)'") }
            feeds[String(spec[..<eq])] = try NPY.read(path: String(spec[spec.index(after: eq)...]))
        }
        var refs: [String: (file: String, stride: Int)] = [:]
        switch index.tensors {
        case .byName(let map):
            for (name, file) in map { refs[name] = (locate(file, from: folder), 1) }
        case .list(let list):
            for t in list {
                guard let name = t.tensor, let file = t.file else { continue }
                refs[name] = (locate(file, from: folder), max(1, t.stride ?? 1))
            }
        case nil:
            throw LSegError.badArgument("\(indexPath): no \"tensors\"")
        }
        let runner = ModelRunner(model: try Pack.read(pack), threads: 1)
        var checked = 0
        var firstBad: String?
        let tol = tolerance
        runner.observer = { node, outs in
            guard firstBad == nil else { return }
            for (name, view) in zip(node.outputs, outs) {
                guard let ref = refs[name], let t = try? NPY.read(path: ref.file) else { continue }
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
            return 3
        }
        print("all \(checked) tensors with a reference agree within \(tolerance) relative")
        return 0
    }
}

/// --max-memory in MB as bytes (checked: positive, no overflow).
func maxMemoryBytes(_ mb: Int?) throws -> Int? {
    guard let mb else { return nil }
    guard mb > 0, mb <= Int.max / 1_000_000 else { throw LSegError.badArgument("--max-memory wants a positive number of MB") }
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

exit(main(Array(CommandLine.arguments.dropFirst())))
