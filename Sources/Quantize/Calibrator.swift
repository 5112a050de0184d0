import Foundation
import Runtime

/// Common category names for calibrating the text tower when the user gives none.
public let defaultCalibrationLabels = [
    "background", "person", "dog", "cat", "car", "tree", "sky", "grass", "building", "road",
    "water", "house", "chair", "table", "bird", "horse", "boat", "airplane", "bicycle", "bus",
    "train", "truck", "flower", "mountain", "sand", "snow", "wall", "floor", "window", "door",
    "bed", "sofa", "bottle", "cup", "book", "laptop", "phone", "clock", "lamp", "plant",
    "rock", "fence", "bridge", "sign", "cloud", "sea", "field", "food", "a red circle", "a blue square",
]

/// Streams statistics of the float input of every node to be quantized while the model runs on
/// calibration images: one RangeHistogram per (graph, value), fed by the producing node's output
/// or by the graph input. Memory does not depend on the number of images.
public final class Calibrator: @unchecked Sendable {
    public let targets: [QuantizableNode]
    /// Graph -> value -> statistics.
    public private(set) var histograms: [String: [String: RangeHistogram]] = [:]
    private let watched: [String: Set<String>]

    public init(targets: [QuantizableNode]) {
        self.targets = targets
        var w: [String: Set<String>] = [:]
        for t in targets { w[t.graph, default: []].insert(t.input) }
        watched = w
    }

    func record(_ graph: String, _ name: String, _ dtype: DType, _ count: Int, _ data: UnsafeMutableRawPointer) {
        guard dtype == .float32, watched[graph]?.contains(name) == true else { return }
        var h = histograms[graph]?[name] ?? RangeHistogram()
        h.add(data.assumingMemoryBound(to: Float.self), count: count)
        histograms[graph, default: [:]][name] = h
    }

    /// Hooks this calibrator into `driver`'s observers.
    public func attach(to driver: LSegDriver) {
        driver.inputObserver = { [unowned self] graph, feeds in
            for (name, t) in feeds { self.record(graph, name, t.dtype, t.count, t.data) }
        }
        driver.nodeObserver = { [unowned self] graph, node, views in
            for (name, v) in zip(node.outputs, views) { self.record(graph, name, v.dtype, v.count, v.data) }
        }
    }

    /// Runs the text tower on every label batch, then the image tower on each image with the
    /// label batches taken in turn. `progress(done, total)` after each run.
    public func run(driver: LSegDriver, images: [Tensor], labelBatches: [[String]], progress: (Int, Int) -> Void) throws {
        attach(to: driver)
        defer { driver.inputObserver = nil; driver.nodeObserver = nil }
        let total = labelBatches.count + images.count
        var done = 0
        for b in labelBatches { _ = try driver.textFeatures(b); done += 1; progress(done, total) }
        // Text graph statistics are complete; image runs reuse the cached features.
        for (i, image) in images.enumerated() {
            _ = try driver.logits(image, labels: labelBatches[i % labelBatches.count])
            done += 1
            progress(done, total)
        }
    }

    /// Graph -> node -> clipping range of the node's input.
    public func ranges(method: RangeMethod, percentile: Double) -> [String: [String: ClipRange]] {
        var out: [String: [String: ClipRange]] = [:]
        for t in targets {
            let h = histograms[t.graph]?[t.input] ?? RangeHistogram()
            out[t.graph, default: [:]][t.node] = RangeEstimator.range(h, method: method, percentile: percentile)
        }
        return out
    }
}

/// Splits labels into batches of about `size` for running the text tower.
public func labelBatches(_ labels: [String], size: Int = 8) -> [[String]] {
    stride(from: 0, to: labels.count, by: size).map { Array(labels[$0..<min($0 + size, labels.count)]) }
}
