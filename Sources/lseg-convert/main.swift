import ArgumentParser
import Convert
import Foundation
import LSeg
import Runtime

@main
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lseg-convert",
        abstract: "Converts an LSeg ONNX export (combined, or the two towers) into a .pack.",
        discussion: """
            lseg-convert model.onnx -o lseg.pack --vocab bpe_simple_vocab_16e6.txt.gz
            lseg-convert --text text.onnx --image image.onnx -o lseg.pack --vocab bpe_simple_vocab_16e6.txt.gz
            Exit codes: 0 done, 2 bad or unsupported input (nothing written), 1 anything else.
            """)

    @Argument(help: "A combined LSeg export, one tower, or any ONNX model made of supported ops.")
    var model: String?

    @Option(help: "The text tower's ONNX file (with --image).")
    var text: String?

    @Option(help: "The image tower's ONNX file (with --text).")
    var image: String?

    @Option(name: .shortAndLong, help: "The pack to write.")
    var output: String

    @Option(help: "CLIP BPE merges file (bpe_simple_vocab_16e6.txt or .txt.gz); needed when there is a text tower. Default: $LSEG_VOCAB, or that file beside the model.")
    var vocab: String?

    @Option(name: .customLong("input-size"), help: "Image input size HxW, when the export leaves it symbolic.")
    var inputSize: String?

    @Option(help: "Per-channel mean, e.g. 0.5,0.5,0.5.")
    var mean = "0.5,0.5,0.5"

    @Option(help: "Per-channel std, e.g. 0.5,0.5,0.5.")
    var std = "0.5,0.5,0.5"

    @Option(help: "zstd level for tensor blobs (1-19).")
    var level: Int32 = 3

    @Option(name: .customLong("bake-labels"), help: "Comma-separated labels to bake in, e.g. \"road,car,person,other\": runs the text tower once, stores its features in the image graph and drops the text tower and vocabulary (the pack then segments into these labels only).")
    var bakeLabels: String?

    @Flag(help: "Skip the optimization passes (folding, fusion).")
    var noOptimize = false

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    func run() throws {
        do {
            try convert()
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            FileHandle.standardError.write(Data("lseg-convert: \(error)\n".utf8))
            throw ExitCode(Self.isInputError(error) ? 2 : 1)
        }
    }

    static func isInputError(_ e: Error) -> Bool {
        e is ConvertError || e is LSegError || e is RuntimeError || e is PassError
    }

    func floats(_ s: String, _ name: String) throws -> [Float] {
        let v = s.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 3, v.allSatisfy({ $0 != nil && $0!.isFinite }) else { throw ValidationError("--\(name) wants three numbers, e.g. 0.5,0.5,0.5") }
        return v.map { $0! }
    }

    func convert() throws {
        let start = ResourceUsage.now()
        var options = Conversion.Options()
        options.mean = try floats(mean, "mean")
        options.std = try floats(std, "std")
        options.optimize = !noOptimize
        if let inputSize {
            let p = inputSize.lowercased().split(separator: "x").compactMap { Int($0) }
            guard p.count == 2, p[0] > 0, p[1] > 0 else { throw ValidationError("--input-size wants HxW, e.g. 384x384") }
            options.inputSize = (p[0], p[1])
        }
        let baked = try bakeLabels.map { try LabelBaking.parse($0) }
        let sourceFolder: URL
        switch (model, text, image) {
        case (let m?, nil, nil): sourceFolder = URL(fileURLWithPath: m).deletingLastPathComponent()
        case (nil, _?, let i?): sourceFolder = URL(fileURLWithPath: i).deletingLastPathComponent()
        default: throw ValidationError("give one model, or --text and --image")
        }
        if let path = vocabularyPath(near: sourceFolder) {
            // Decoding it through the tokenizer checks it is a usable merges file.
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let raw = Inflate.isGzip(bytes) ? try Inflate.gunzip(bytes, name: path) : bytes
            _ = try Tokenizer(mergesFileData: raw, name: path)
            options.vocabulary = raw
        }

        let progress = Progress(enabled: !quiet && isatty(2) != 0)
        progress.stage("importing and optimizing")
        var result: Conversion.Result
        if let model {
            result = try Conversion.convert(URL(fileURLWithPath: model), options: options)
        } else {
            result = try Conversion.convert(text: URL(fileURLWithPath: text!), image: URL(fileURLWithPath: image!), options: options)
        }
        if let baked {
            progress.stage("baking labels")
            result.model = try LabelBaking.bake(result.model, labels: baked)
            result.reports = result.reports.filter { r in result.model.graphs.contains { $0.name == r.graph } }
        }
        var writeOptions = PackWriteOptions(level: level)
        if progress.enabled {
            writeOptions.progress = { @Sendable (done: Int, total: Int) -> Void in progress.bar("packing", done, total) }
        }
        let report = try Pack.write(result.model, to: output, options: writeOptions)
        progress.finish()
        let seconds = ResourceUsage.now() - start
        guard !quiet else { return }
        for (g, r) in zip(result.model.graphs, result.reports) {
            let params = g.initializers.filter { $0.key != Conversion.vocabularyTensor }.values.reduce(0) { $0 + $1.count }
            let ins = g.inputs.map { "\($0.name) \($0.dtype)[\(($0.shape ?? []).map(\.description).joined(separator: ","))]" }
            let outs = g.outputs.map { "\($0.name) \($0.dtype)[\(($0.shape ?? []).map(\.description).joined(separator: ","))]" }
            print("graph \(g.name): \(r.nodesBefore) -> \(r.nodesAfter) nodes, \(String(format: "%.2f", Double(params) / 1e6)) M parameters; in: \(ins.joined(separator: ", ")); out: \(outs.joined(separator: ", "))")
        }
        for l in result.model.metadata.links { print("link: \(l.fromGraph).\(l.fromOutput) -> \(l.toGraph).\(l.toInput)") }
        if let baked = result.model.metadata.bakedLabels { print("baked labels: \(baked.joined(separator: ", ")) (text tower and vocabulary dropped)") }
        print(String(format: "%@: %.1f MB ONNX -> %.1f MB pack (%.3f), %d tensors, %.2f s (%.0f MB/s)",
                     output, Double(result.bytesIn) / 1e6, Double(report.fileSize) / 1e6,
                     Double(report.fileSize) / Double(max(result.bytesIn, 1)), report.tensorCount, seconds,
                     Double(result.bytesIn) / 1e6 / seconds))
    }

    func vocabularyPath(near folder: URL) -> String? {
        if let vocab { return vocab }
        if let env = ProcessInfo.processInfo.environment["LSEG_VOCAB"], !env.isEmpty { return env }
        for name in ["bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"] {
            let p = folder.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }
}

/// A one-line progress display on a terminal (stderr); silent otherwise.
final class Progress: @unchecked Sendable {
    let enabled: Bool
    private let start = ResourceUsage.now()
    private var lastDraw = 0.0
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    func stage(_ what: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(what)...".utf8))
    }

    func bar(_ what: String, _ done: Int, _ total: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = ResourceUsage.now()
        guard now - lastDraw > 0.1 || done >= total else { return }
        lastDraw = now
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let width = 30, filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "\r\u{1B}[K%@ [%@] %3.0f%% %.0f/%.0f MB %.1fs", what, bar, frac * 100,
                          Double(done) / 1e6, Double(total) / 1e6, now - start)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
