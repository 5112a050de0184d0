import Foundation
import Runtime

/// Error of one quantized node's output against fp32, accumulated over evaluation runs.
public struct OutputError: Sendable, Codable, Equatable {
    public var signal = 0.0, noise = 0.0, dot = 0.0, referenceNorm = 0.0, quantizedNorm = 0.0
    public var values = 0
    /// Input values outside the calibrated range, and input values seen (fp32 run).
    public var saturated = 0, inputValues = 0

    public var sqnrDB: Double { noise == 0 ? .infinity : 10 * log10(Swift.max(signal, 1e-30) / noise) }
    public var cosine: Double {
        let d = (referenceNorm * quantizedNorm).squareRoot()
        return d == 0 ? (referenceNorm == quantizedNorm ? 1 : 0) : dot / d
    }
    public var saturatedShare: Double { inputValues == 0 ? 0 : Double(saturated) / Double(inputValues) }

    mutating func add(reference r: [Float], quantized q: UnsafePointer<Float>) {
        for i in 0..<r.count {
            let a = Double(r[i]), b = Double(q[i])
            guard a.isFinite, b.isFinite else { continue }
            signal += a * a; noise += (a - b) * (a - b); dot += a * b
            referenceNorm += a * a; quantizedNorm += b * b
        }
        values += r.count
    }
}

/// End-to-end agreement of a quantized model with fp32 on held-out images.
public struct EndToEnd: Sendable, Codable, Equatable {
    public var images = 0
    /// Share of pixels whose label equals fp32's.
    public var maskAgreement = 1.0
    /// Mean over labels of IoU with fp32's masks, in percent.
    public var mIoU = 100.0
    /// Cosine of quantized vs fp32 text features: lowest and mean over labels.
    public var textCosineMin = 1.0
    public var textCosineMean = 1.0
}

/// Runs the fp32 and a quantized model side by side and compares them node by node.
public final class Evaluator: @unchecked Sendable {
    let reference: LSegDriver
    let quantized: LSegDriver
    /// Graph -> node names compared.
    let nodes: [String: Set<String>]
    /// Graph -> input value -> [(node, range)] for saturation counts.
    let inputs: [String: [String: [(String, ClipRange)]]]
    public private(set) var errors: [String: [String: OutputError]] = [:]
    private var captured: [String: [Float]] = [:]

    /// `ranges`: graph -> node -> (input value, calibrated range) of int8 nodes.
    public init(reference: Model, quantized: Model, nodes: [String: Set<String>],
                ranges: [String: [String: (String, ClipRange)]], threads: Int) throws {
        self.reference = try LSegDriver(model: reference, threads: threads)
        self.quantized = try LSegDriver(model: quantized, threads: threads)
        self.nodes = nodes
        var ins: [String: [String: [(String, ClipRange)]]] = [:]
        for (g, m) in ranges { for (node, (value, r)) in m { ins[g, default: [:]][value, default: []].append((node, r)) } }
        inputs = ins
        self.reference.nodeObserver = { [unowned self] g, node, views in
            for (name, v) in zip(node.outputs, views) { self.countSaturation(g, name, v) }
            guard self.nodes[g]?.contains(node.name) == true, let v = views.first, v.dtype == .float32 else { return }
            self.captured[g + "\u{0}" + node.name] = Array(UnsafeBufferPointer(start: v.pointer(Float.self), count: v.count))
        }
        self.reference.inputObserver = { [unowned self] g, feeds in
            for (name, t) in feeds { self.countSaturation(g, name, TensorView(t)) }
        }
        self.quantized.nodeObserver = { [unowned self] g, node, views in
            guard let r = self.captured.removeValue(forKey: g + "\u{0}" + node.name), let v = views.first,
                  v.dtype == .float32, v.count == r.count else { return }
            self.errors[g, default: [:]][node.name, default: OutputError()].add(reference: r, quantized: v.pointer(Float.self))
        }
    }

    private func countSaturation(_ g: String, _ value: String, _ v: TensorView) {
        guard v.dtype == .float32, let users = inputs[g]?[value] else { return }
        let p = v.pointer(Float.self)
        for (node, r) in users {
            var n = 0
            for i in 0..<v.count where p[i] < r.lower || p[i] > r.upper { n += 1 }
            errors[g, default: [:]][node, default: OutputError()].saturated += n
            errors[g, default: [:]][node, default: OutputError()].inputValues += v.count
        }
    }

    /// Compares on `images`, image i segmented into label batch i % count.
    public func run(images: [Tensor], labelBatches: [[String]], progress: (Int, Int) -> Void = { _, _ in }) throws -> EndToEnd {
        var result = EndToEnd()
        var cosines: [Double] = []
        // Text features first, so the node comparison of the text graph runs once per batch.
        for b in labelBatches {
            captured.removeAll()
            guard let r = try reference.textFeatures(b), let q = try quantized.textFeatures(b) else { continue }
            let c = r.shape.last ?? 1
            let rv = r.scalars(as: Float.self), qv = q.scalars(as: Float.self)
            for row in 0..<(r.count / Swift.max(c, 1)) {
                var e = OutputError()
                Array(qv[row * c..<(row + 1) * c]).withUnsafeBufferPointer { e.add(reference: Array(rv[row * c..<(row + 1) * c]), quantized: $0.baseAddress!) }
                cosines.append(e.cosine)
            }
        }
        if !cosines.isEmpty {
            result.textCosineMin = cosines.min()!
            result.textCosineMean = cosines.reduce(0, +) / Double(cosines.count)
        }
        var agree = 0, pixels = 0
        var intersection: [String: Int] = [:], union: [String: Int] = [:]
        for (i, image) in images.enumerated() {
            let labels = labelBatches[i % labelBatches.count]
            captured.removeAll()
            let r = try LSegDriver.mask(reference.logits(image, labels: labels))
            let q = try LSegDriver.mask(quantized.logits(image, labels: labels))
            for k in 0..<r.count {
                let a = labels[Int(r[k])], b = labels[Int(q[k])]
                if a == b { agree += 1; intersection[a, default: 0] += 1; union[a, default: 0] += 1 } else {
                    union[a, default: 0] += 1; union[b, default: 0] += 1
                }
            }
            pixels += r.count
            progress(i + 1, images.count)
        }
        result.images = images.count
        if pixels > 0 {
            result.maskAgreement = Double(agree) / Double(pixels)
            let ious = union.map { Double(intersection[$0.key] ?? 0) / Double($0.value) }
            result.mIoU = 100 * ious.reduce(0, +) / Double(Swift.max(ious.count, 1))
        }
        return result
    }
}

/// Mean IoU in percent of predicted label maps against ground truth, over the labels present
/// in either; label maps index each scene's own label list, so IoU is pooled by label name.
public func meanIoU(predictions: [[Int32]], truths: [[Int32]], labels: [[String]]) -> Double {
    var inter: [String: Int] = [:], uni: [String: Int] = [:]
    for (s, (p, t)) in zip(predictions, truths).enumerated() {
        for k in 0..<Swift.min(p.count, t.count) {
            let a = labels[s][Int(p[k])], b = labels[s][Int(t[k])]
            if a == b { inter[a, default: 0] += 1; uni[a, default: 0] += 1 } else { uni[a, default: 0] += 1; uni[b, default: 0] += 1 }
        }
    }
    let ious = uni.map { Double(inter[$0.key] ?? 0) / Double($0.value) }
    return ious.isEmpty ? 100 : 100 * ious.reduce(0, +) / Double(ious.count)
}
