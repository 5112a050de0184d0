import Foundation
import Runtime

/// ONNX export(s) to a packable Model: import, split into `text` and `image` where the export is
/// LSeg-shaped, optimize each graph, and fill the metadata (sources, roles, links,
/// preprocessing, vocabulary). The CLI and tests call this; nothing here writes files.
public enum Conversion {
    public struct Options: Sendable {
        /// The CLIP BPE merges text (uncompressed), embedded when a text tower is present.
        public var vocabulary: [UInt8]?
        /// Image input size when the export leaves H and W symbolic.
        public var inputSize: (height: Int, width: Int)?
        public var mean: [Float] = [0.5, 0.5, 0.5]
        public var std: [Float] = [0.5, 0.5, 0.5]
        public var optimize = true
        public var hashSources = true
        public init() {}
    }

    public struct Result: Sendable {
        public var model: Model
        public var reports: [Pipeline.Report]
        /// Bytes of ONNX read (model files and external data).
        public var bytesIn: Int
        public var nodesBefore: Int { reports.reduce(0) { $0 + $1.nodesBefore } }
        public var nodesAfter: Int { reports.reduce(0) { $0 + $1.nodesAfter } }
    }

    /// The name under which the vocabulary is stored, as a uint8 tensor of the text graph.
    public static let vocabularyTensor = "clip_bpe_vocabulary"

    /// One export: a combined LSeg model (split automatically), one tower, or any other model.
    public static func convert(_ url: URL, options: Options = Options()) throws -> Result {
        let imported = try PhaseTiming.measure("import") { try ONNXImporter.load(url, hashSources: options.hashSources) }
        // Typed intermediates let the split find the [N, C] text-feature boundary in exports
        // that carry no value_info.
        var g = imported.graph
        if options.optimize { _ = try PhaseTiming.measure("shape inference before split") { try ShapeInference.run(&g) } }
        var split = Roles.split(g)
        renameTextFeatures(&split)
        return try PhaseTiming.measure("passes and metadata") {
            try finish(split.graphs, links: split.links, sources: imported.sources, imports: [imported], options: options)
        }
    }

    /// The two towers exported separately.
    public static func convert(text: URL, image: URL, options: Options = Options()) throws -> Result {
        let t = try ONNXImporter.load(text, hashSources: options.hashSources)
        let i = try ONNXImporter.load(image, hashSources: options.hashSources)
        guard Roles.role(of: t.graph) == Roles.text else {
            throw ConvertError.badModel(file: text.lastPathComponent, what: "not a text tower: expected one int64 [N, 77] token input, found \(describe(t.graph.inputs))")
        }
        guard Roles.role(of: i.graph) == Roles.image else {
            throw ConvertError.badModel(file: image.lastPathComponent, what: "not an image tower: expected a float [1, 3, H, W] image and [N, C] text features, found \(describe(i.graph.inputs))")
        }
        var tg = t.graph, ig = i.graph
        tg.name = Roles.text
        ig.name = Roles.image
        guard tg.outputs.count == 1, let features = ig.inputs.first(where: { $0.shape?.count == 2 && $0.dtype.isFloat }) else {
            throw ConvertError.badModel(file: image.lastPathComponent, what: "cannot connect the towers: the text tower must have one output and the image tower a float [N, C] input")
        }
        let link = GraphLink(fromGraph: Roles.text, fromOutput: tg.outputs[0].name, toGraph: Roles.image, toInput: features.name)
        return try finish([tg, ig], links: [link], sources: t.sources + i.sources, imports: [t, i], options: options)
    }

    /// Gives the split's internal boundary value the name separate image-tower exports use.
    static func renameTextFeatures(_ split: inout Roles.Split) {
        guard split.links.count == 1 else { return }
        let old = split.links[0].fromOutput, new = "text_features"
        guard old != new else { return }
        for g in split.graphs {
            let names = Set(g.nodes.flatMap { $0.outputs + $0.inputs }).union(g.initializers.keys).union(g.inputs.map(\.name))
            if names.contains(new) || g.outputs.contains(where: { $0.name == new }) { return }
        }
        for k in split.graphs.indices {
            split.graphs[k].rename(value: old, to: new)
        }
        split.links[0].fromOutput = new
        split.links[0].toInput = new
    }

    static func describe(_ inputs: [ValueInfo]) -> String {
        inputs.map { "\($0.name) \($0.dtype)[\(($0.shape ?? []).map(\.description).joined(separator: ", "))]" }.joined(separator: "; ")
    }

    static func finish(_ graphs: [Graph], links: [GraphLink], sources: [SourceFile], imports: [ImportedModel],
                       options: Options) throws -> Result {
        var out: [Graph] = []
        var reports: [Pipeline.Report] = []
        var truncations: [String: SequenceTruncation] = [:]
        for var g in graphs {
            if options.optimize {
                // Pipeline.optimize, plus the causal truncation rewrite where it is proven.
                let outcome = try CausalTruncation.optimize(&g)
                reports.append(outcome.report)
                truncations[g.name] = outcome.truncation
            } else {
                reports.append(Pipeline.Report(unoptimized: g))
            }
            out.append(g)
        }
        var meta = Metadata()
        meta.sources = sources
        meta.links = links
        meta.sequenceTruncation = truncations.isEmpty ? nil : truncations
        for g in out { meta.roles[g.name] = g.name == Roles.text || g.name == Roles.image ? g.name : Roles.main }
        if let first = imports.first {
            meta.extra["onnx_producer"] = "\(first.producerName) \(first.producerVersion)".trimmingCharacters(in: .whitespaces)
            meta.extra["onnx_ir_version"] = String(first.irVersion)
            meta.extra["onnx_opset"] = String(first.opsets[""] ?? 0)
        }

        if let image = out.first(where: { $0.name == Roles.image }) {
            let declared = image.inputs.first { $0.shape?.count == 4 }?.shape
            var h = declared?[2].value, w = declared?[3].value
            if let s = options.inputSize { h = s.height; w = s.width }
            guard let h, let w, h > 0, w > 0 else {
                throw ConvertError.badModel(file: sources.first?.name ?? "model", what: "the image input's height and width are symbolic: give --input-size HxW")
            }
            guard options.mean.count == 3, options.std.count == 3, options.std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
                throw ConvertError.badModel(file: sources.first?.name ?? "model", what: "mean and std need three finite values each (std non-zero)")
            }
            meta.preprocessing = Preprocessing(height: h, width: w, mean: options.mean, std: options.std)
        }

        if let index = out.firstIndex(where: { $0.name == Roles.text }) {
            guard let vocab = options.vocabulary else {
                throw ConvertError.badModel(file: sources.first?.name ?? "model",
                                            what: "the model has a CLIP text tower: give --vocab bpe_simple_vocab_16e6.txt.gz (the BPE merges file that ships in the open_clip_torch and openai-clip packages)")
            }
            out[index].initializers[vocabularyTensor] = Tensor(dtype: .uint8, shape: [vocab.count], scalars: vocab)
            meta.vocabularyTensor = vocabularyTensor
        }
        let bytesIn = sources.reduce(0) { $0 + $1.bytes }
        return Result(model: Model(metadata: meta, graphs: out), reports: reports, bytesIn: bytesIn)
    }
}

extension Pipeline.Report {
    /// A report for a graph left as imported.
    init(unoptimized g: Graph) {
        var ops: [String: Int] = [:]
        for n in g.nodes { ops[n.op.typeName, default: 0] += 1 }
        self.init(graph: g.name, nodesBefore: g.nodes.count, nodesAfter: g.nodes.count,
                  initializersBefore: g.initializers.count, initializersAfter: g.initializers.count,
                  opsBefore: ops, opsAfter: ops, iterations: 0, passes: [], unknownShapes: [], probes: [:])
    }
}
