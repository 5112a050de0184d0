import Glibc
import Runtime

/// Label baking for fixed-class deployments: runs the text tower once for a label set, stores
/// the text features in the image graph as an initializer, and drops the text tower and the
/// vocabulary. A baked pack segments into exactly those labels and carries no tokenizer.
public enum LabelBaking {
    /// Labels from a comma-separated list ("road,car,person,other"), trimmed, empty ones dropped;
    /// fails on an empty list or a repeated label.
    public static func parse(_ list: String) throws -> [String] {
        let labels = list.split(separator: ",").map { TextCleaning.trimmingBlanks($0) }.filter { !$0.isEmpty }
        guard !labels.isEmpty else { throw LSegError.badArgument("no labels to bake in '\(list)'") }
        var seen = Set<String>()
        for l in labels where !seen.insert(l).inserted { throw LSegError.badArgument("label '\(l)' is given twice") }
        return labels
    }

    /// `model` with `labels` baked in. The model must be split into `text` and `image` graphs
    /// (as lseg-convert writes LSeg exports); the features come from `features` when given
    /// ([N, C] float32, one row per label, e.g. from the fp32 pack a quantized one was made
    /// from), else from `model`'s own text tower.
    public static func bake(_ model: Model, labels: [String], features: Tensor? = nil,
                            threads: Int = ProcessorCount.active) throws -> Model {
        guard !labels.isEmpty else { throw LSegError.badArgument("no labels to bake") }
        if let baked = model.metadata.bakedLabels {
            throw LSegError.badArgument("the pack already has baked labels (\(baked.joined(separator: ", ")))")
        }
        guard let image = model.graph(named: "image") else {
            throw LSegError.badArgument("label baking needs a pack split into 'text' and 'image' graphs (graphs: \(model.graphs.map(\.name).joined(separator: ", ")))")
        }
        guard let imageInput = image.inputs.first(where: { $0.shape?.count == 4 && $0.dtype.isFloat }) else {
            throw LSegError.badArgument("graph 'image' has no [1, 3, H, W] image input")
        }
        // The text-features input: the link's target, or the image graph's other input.
        let linked = model.metadata.links.first { $0.toGraph == "image" }?.toInput
        guard let featureInput = image.inputs.first(where: { $0.name == (linked ?? "") })
                ?? image.inputs.first(where: { $0.name != imageInput.name }) else {
            throw LSegError.badArgument("graph 'image' has no text-features input")
        }

        let f: Tensor
        if let features {
            f = features
        } else {
            guard model.graph(named: "text") != nil else { throw LSegError.badArgument("the pack has no text graph to compute features with") }
            f = try Segmenter(model: model, threads: threads).textFeatures(labels)
        }
        guard f.dtype == featureInput.dtype, f.rank == 2, f.shape[0] == labels.count else {
            throw LSegError.badArgument("text features are \(f.dtype)\(f.shape); graph 'image' input '\(featureInput.name)' wants \(featureInput.dtype)[\(labels.count), C]")
        }
        if let declared = featureInput.shape, declared.count == 2, let c = declared[1].value, c != f.shape[1] {
            throw LSegError.badArgument("text features have \(f.shape[1]) channels; graph 'image' input '\(featureInput.name)' wants \(c)")
        }

        var baked = image
        baked.inputs.removeAll { $0.name == featureInput.name }
        // An owned copy: the features may borrow a pack mapping that is about to be released.
        baked.initializers[featureInput.name] = Tensor(dtype: f.dtype, shape: f.shape,
                                                       storage: TensorStorage(copying: UnsafeRawBufferPointer(start: f.storage.pointer, count: f.byteCount)),
                                                       quant: f.quant)
        baked.valueInfo[featureInput.name] = ValueInfo(name: featureInput.name, dtype: f.dtype, shape: f.shape.map { Dim.fixed($0) })
        if let vocab = model.metadata.vocabularyTensor { baked.initializers.removeValue(forKey: vocab) }

        var meta = model.metadata
        meta.bakedLabels = labels
        meta.vocabularyTensor = nil
        meta.links.removeAll { $0.fromGraph == "text" || $0.toGraph == "text" }
        meta.roles.removeValue(forKey: "text")
        // Only the image graph remains: records about other graphs would name nothing.
        meta.sequenceTruncation = meta.sequenceTruncation?.filter { $0.key == baked.name }
        if meta.sequenceTruncation?.isEmpty == true { meta.sequenceTruncation = nil }
        return Model(metadata: meta, graphs: [baked])
    }
}
