import Foundation
import Runtime
import LSeg

/// Runs an LSeg pack (split `text` + `image`, or combined `main`) the way Segmenter does, and
/// lets the quantizer watch every graph input and node output as it goes.
public final class LSegDriver: @unchecked Sendable {
    public let model: Model
    public let runner: ModelRunner
    public let tokenizer: Tokenizer
    public let preprocessing: Preprocessing
    /// Graph being run, for observers (node names are only unique within a graph).
    public private(set) var currentGraph = ""
    /// Called with a graph's name and its feeds before it runs.
    public var inputObserver: ((String, [String: Tensor]) -> Void)?
    /// Called with the graph's name, each node and its outputs after the node runs.
    public var nodeObserver: ((String, Node, [TensorView]) -> Void)?
    private var featureCache: [[String]: Tensor] = [:]

    public init(model: Model, threads: Int) throws {
        self.model = model
        // The driver keeps `model` (the quantizer rewrites it), so packed Linear weights would be
        // a second copy of them: calibration runs the stored layout.
        runner = ModelRunner(model: model, threads: threads, packLinearWeights: false)
        guard let bytes = model.vocabularyBytes else { throw QuantizeError.badArgument("the pack has no vocabulary: not an LSeg pack with a text tower") }
        tokenizer = try Tokenizer(mergesFileData: bytes, name: "pack vocabulary")
        guard let p = model.metadata.preprocessing else { throw QuantizeError.badArgument("the pack has no preprocessing metadata: not an LSeg image model") }
        preprocessing = p
        guard model.graph(named: "image") ?? model.graph(named: "main") != nil else {
            throw QuantizeError.badArgument("the pack has no 'image' or 'main' graph (graphs: \(model.graphs.map(\.name).joined(separator: ", ")))")
        }
        runner.observer = { [unowned self] node, views in self.nodeObserver?(self.currentGraph, node, views) }
    }

    func tokens(_ labels: [String]) -> Tensor {
        let ids = tokenizer.tokenize(labels)
        return .int64(ids.flatMap { $0 }, shape: [labels.count, ids.first?.count ?? Tokenizer.defaultContextLength])
    }

    func run(_ graph: String, _ feeds: [String: Tensor]) throws -> [String: Tensor] {
        currentGraph = graph
        inputObserver?(graph, feeds)
        return try runner.run(graph: graph, inputs: feeds)
    }

    /// Text features [N, C] (nil for a combined pack, which computes them inside `main`).
    public func textFeatures(_ labels: [String]) throws -> Tensor? {
        guard let text = model.graph(named: "text") else { return nil }
        if let f = featureCache[labels] { return f }
        guard let input = text.inputs.first, let output = text.outputs.first else { throw QuantizeError.badArgument("text graph has no input or output") }
        guard let f = try run("text", [input.name: tokens(labels)])[output.name] else { throw QuantizeError.evaluation("text graph gave no '\(output.name)'") }
        featureCache[labels] = f
        return f
    }

    /// Logits [1, N, H, W] for a preprocessed image [1, 3, H, W].
    public func logits(_ image: Tensor, labels: [String]) throws -> Tensor {
        let g = model.graph(named: "image") ?? model.graph(named: "main")!
        guard let imageInput = g.inputs.first(where: { $0.shape?.count == 4 && $0.dtype.isFloat }) else {
            throw QuantizeError.badArgument("graph '\(g.name)' has no [1, 3, H, W] image input")
        }
        var feeds: [String: Tensor] = [imageInput.name: image]
        for i in g.inputs where i.name != imageInput.name {
            if i.dtype == .int64 { feeds[i.name] = tokens(labels) } else if let f = try textFeatures(labels) { feeds[i.name] = f }
        }
        guard let name = g.outputs.first?.name, let out = try run(g.name, feeds)[name], out.rank == 4, out.shape[1] == labels.count else {
            throw QuantizeError.evaluation("graph '\(g.name)' did not give [1, N, H, W] logits")
        }
        return out
    }

    /// Label index per pixel at the model's resolution.
    public static func mask(_ logits: Tensor) throws -> [Int32] {
        try argmaxLabels(logits.scalars(as: Float.self), count: logits.shape[1], height: logits.shape[2], width: logits.shape[3])
    }
}

/// Finds and preprocesses calibration and evaluation images.
public enum CalibrationImages {
    /// PNG and JPEG files under `folder`, recursively, sorted by path.
    public static func find(in folder: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw QuantizeError.badArgument("\(folder): no such file or folder")
        }
        guard isDir.boolValue else { return [folder] }
        guard let e = FileManager.default.enumerator(atPath: folder) else { throw QuantizeError.badArgument("\(folder): cannot list") }
        var paths: [String] = []
        while let rel = e.nextObject() as? String {
            let ext = (rel as NSString).pathExtension.lowercased()
            if ["png", "jpg", "jpeg"].contains(ext) { paths.append((folder as NSString).appendingPathComponent(rel)) }
        }
        return paths.sorted()
    }

    /// Up to `limit` preprocessed images [1, 3, H, W] from `paths`; unreadable files are skipped
    /// and reported through `warn`.
    public static func load(_ paths: [String], limit: Int, preprocessing p: Preprocessing,
                            warn: (String) -> Void) -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = []
        for path in paths where out.count < limit {
            do {
                let image = try ImageIO.read(path: path)
                out.append((path, try preprocessTensor(image, height: p.height, width: p.width, mean: p.mean, std: p.std)))
            } catch {
                warn("skipping \(path): \(error)")
            }
        }
        return out
    }
}
