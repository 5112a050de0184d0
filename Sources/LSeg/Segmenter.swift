import Glibc
import Runtime

/// LSeg inference: labels -> text features (cached per label set), image -> logits -> label map
/// at the photo's own size. Works on packs split into `text` and `image` graphs and on
/// unsplit combined packs (`main` with token and image inputs).
public final class Segmenter: @unchecked Sendable {
    public let model: Model
    public let runner: ModelRunner
    public let tokenizer: Tokenizer?
    public let preprocessing: Preprocessing
    /// The labels a baked pack segments into (its text features are in the image graph); nil
    /// when the pack takes any labels through its text tower.
    public var bakedLabels: [String]? { model.metadata.bakedLabels }
    private var cachedLabels: [String] = []
    private var cachedFeatures: Tensor?
    /// The pack's file mapping, when the model was read from one here: each image run
    /// drops the mapped weights' pages once their node has run (see `runImage`).
    private let pages: PackPages?
    /// Drop each large mapped int8 weight's pages after its node in every image run (see
    /// `runImage`); off, they stay resident once read.
    public var releasesWeightPages = true
    /// Bytes of mapped weight pages dropped after their nodes in the last image run.
    public private(set) var releasedWeightBytes = 0

    public struct Result: Sendable {
        public var labels: [String]
        public var width: Int
        public var height: Int
        /// Label index per pixel, row-major, at the input photo's size.
        public var labelMap: [Int32]
        /// Share of pixels per label (0...1).
        public var shares: [Double]
        /// Mean logit per label over the image (the model's confidence in each label).
        public var meanLogits: [Float]
    }

    public convenience init(packAt path: String, threads: Int = ProcessorCount.active) throws {
        let (model, pages) = try Pack.readMapped(path)
        try self.init(model: consume model, pages: pages, threads: threads)
    }

    /// The model goes to the runner, which may re-lay its Linear weights out for this CPU
    /// (`ModelRunner.init`); keep no other reference to it to keep one copy of those weights.
    public convenience init(model: consuming Model, threads: Int = ProcessorCount.active) throws {
        try self.init(model: model, pages: nil, threads: threads)
    }

    init(model: consuming Model, pages: PackPages?, threads: Int) throws {
        self.pages = pages
        runner = ModelRunner(model: model, threads: threads)
        let model = runner.model
        self.model = model
        if let bytes = model.vocabularyBytes {
            tokenizer = try Tokenizer(mergesFileData: bytes, name: "pack vocabulary")
        } else {
            tokenizer = nil
        }
        guard let pre = model.metadata.preprocessing else {
            throw LSegError.badArgument("the pack has no preprocessing metadata (input size, mean, std): not an LSeg image model")
        }
        preprocessing = pre
        guard imageGraph != nil else {
            throw LSegError.badArgument("the pack has no image graph (graphs: \(model.graphs.map(\.name).joined(separator: ", ")))")
        }
        if let baked = model.metadata.bakedLabels, baked.isEmpty || model.graph(named: "image") == nil {
            throw LSegError.badArgument("the pack's baked labels need a non-empty label list and an 'image' graph")
        }
    }

    /// The labels to segment into: `labels`, or a baked pack's own when nil or empty. A baked
    /// pack takes no other labels (its text tower is gone).
    public func resolveLabels(_ labels: [String]?) throws -> [String] {
        if let baked = bakedLabels {
            guard let labels, !labels.isEmpty, labels != baked else { return baked }
            throw LSegError.badArgument("the pack has baked labels (\(baked.joined(separator: ", "))) and cannot segment into others (\(labels.joined(separator: ", ")))")
        }
        guard let labels, !labels.isEmpty else { throw LSegError.badArgument("no labels given (the pack has no baked labels)") }
        return labels
    }

    /// The graph that takes the image: `image`, or a combined `main`.
    var imageGraph: Graph? { model.graph(named: "image") ?? model.graph(named: "main") }

    var imageInput: ValueInfo? { imageGraph?.inputs.first { $0.shape?.count == 4 && $0.dtype.isFloat } }

    /// Token ids [N, 77] for the labels.
    public func tokens(_ labels: [String]) throws -> Tensor {
        guard let tokenizer else { throw LSegError.badArgument("the pack has no vocabulary, so it cannot take text labels") }
        let ids = tokenizer.tokenize(labels)
        return .int64(ids.flatMap { $0 }, shape: [labels.count, ids.first?.count ?? Tokenizer.defaultContextLength])
    }

    /// L2-normalized text features [N, C] from the text graph, cached for the last label set.
    public func textFeatures(_ labels: [String]) throws -> Tensor {
        if labels == cachedLabels, let f = cachedFeatures { return f }
        guard let text = model.graph(named: "text"), let input = text.inputs.first, let output = text.outputs.first else {
            throw LSegError.badArgument("the pack has no text graph")
        }
        let out = try runner.run(graph: "text", inputs: [input.name: try tokens(labels)])
        guard let f = out[output.name] else { throw LSegError.badArgument("text graph gave no '\(output.name)'") }
        cachedLabels = labels
        cachedFeatures = f
        return f
    }

    /// Logits [1, N, H, W] at the model's input size.
    public func logits(_ image: RGBImage, labels: [String]) throws -> Tensor {
        let labels = try resolveLabels(labels)
        guard let g = imageGraph, let imageInput else { throw LSegError.badArgument("the pack's image graph has no [1, 3, H, W] input") }
        let p = preprocessing
        let x = try preprocessTensor(image, height: p.height, width: p.width, mean: p.mean, std: p.std)
        var feeds: [String: Tensor] = [imageInput.name: x]
        if bakedLabels != nil {
            // The features are an initializer of the image graph: the image is the only input.
        } else if g.name == "image" {
            let features = try textFeatures(labels)
            for link in model.metadata.links where link.toGraph == "image" { feeds[link.toInput] = features }
            if let f = g.inputs.first(where: { $0.name != imageInput.name && feeds[$0.name] == nil }) {
                feeds[f.name] = features   // a pack from separate towers without a recorded link
            }
        } else {
            guard let t = g.inputs.first(where: { $0.dtype == .int64 }) else { throw LSegError.badArgument("graph '\(g.name)' takes no token ids") }
            feeds[t.name] = try tokens(labels)
        }
        let out = try runImage(g, feeds)
        guard let name = g.outputs.first?.name, let logits = out[name], logits.rank == 4, logits.shape[1] == labels.count else {
            throw LSegError.badArgument("the image graph's output is not [1, N, H, W] logits")
        }
        return logits
    }

    /// Mapped weights of this size and up are released after their node runs.
    static let releasableBytes = 64 << 10

    /// Runs the image graph; as each node finishes, drops the resident pages of the large
    /// weights it read from the pack's mapping (raw blobs: int8 weights, above all). So a run holds the weights of
    /// about one node at a time besides the prepared layouts and the arena, instead of every
    /// weight at once. Dropped pages stay in the page cache: the next run maps them back with
    /// minor faults (the kernel maps neighbouring cached pages per fault), no disk reads.
    private func runImage(_ g: Graph, _ feeds: [String: Tensor]) throws -> [String: Tensor] {
        guard let pages, releasesWeightPages, runner.observer == nil else { return try runner.run(graph: g.name, inputs: feeds) }
        let (session, inputs) = try runner.preparedRun(graph: g.name, inputs: feeds)
        let large = g.initializers.filter { $0.value.byteCount >= Segmenter.releasableBytes && pages.contains($0.value) }
        // Planning this session may have read weights (folding them into float copies): drop
        // those pages before the run starts.
        for t in large.values { pages.release(t) }
        var released = 0
        session.observer = { node, _ in
            for name in node.inputs { if let t = large[name] { released += pages.release(t) } }
        }
        defer {
            session.observer = nil
            releasedWeightBytes = released
        }
        return try session.run(inputs)
    }

    /// Segments `image` into `labels`.
    public func segment(_ image: RGBImage, labels: [String]) throws -> Result {
        let labels = try resolveLabels(labels)
        let logits = try logits(image, labels: labels)
        let n = logits.shape[1], h = logits.shape[2], w = logits.shape[3]
        let values = logits.scalars(as: Float.self)
        let map = try labelMap(logits: values, count: n, height: h, width: w, outHeight: image.height, outWidth: image.width)
        var counts = [Int](repeating: 0, count: n)
        for l in map { counts[Int(l)] += 1 }
        var means = [Float](repeating: 0, count: n)
        for k in 0..<n {
            var s: Double = 0
            for i in 0..<(h * w) { s += Double(values[k * h * w + i]) }
            means[k] = Float(s / Double(max(h * w, 1)))
        }
        return Result(labels: labels, width: image.width, height: image.height, labelMap: map,
                      shares: counts.map { Double($0) / Double(max(map.count, 1)) }, meanLogits: means)
    }

    /// Segments `image` into a baked pack's labels.
    public func segment(_ image: RGBImage) throws -> Result {
        try segment(image, labels: try resolveLabels(nil))
    }
}
