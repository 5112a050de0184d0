import Foundation
import Runtime

public enum QuantizeMode: String, Sendable, CaseIterable, Codable {
    case int8
    case fp16
    case int8Weights = "int8-weights"

    /// Default output file name next to the input.
    public var defaultFileName: String {
        switch self {
        case .int8: return "lseg-int8.pack"
        case .fp16: return "lseg-fp16.pack"
        case .int8Weights: return "lseg-int8w.pack"
        }
    }
}

public struct QuantizeOptions: Sendable {
    public var mode: QuantizeMode = .int8
    public var method: RangeMethod = .percentile
    public var percentile = 99.99
    public var samples = 32
    public var labels: [String] = defaultCalibrationLabels
    public var keepFloat: [String] = []
    /// Largest allowed drop of mask agreement with fp32 (0...1); nil: no sensitivity search.
    public var maxDrop: Double?
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Measure qLinear/qConv through their float emulation (Int8Emulation) instead of the kernels.
    public var emulateInt8 = false
    public init() {}
}

/// One quantized (or returned-to-float) node in the report.
public struct LayerReport: Sendable, Codable, Equatable {
    public var graph: String
    public var node: String
    public var op: String
    public var scale: Float
    public var zeroPoint: Int32
    public var lower: Float
    public var upper: Float
    public var fallbackRange: Bool
    public var sqnrDB: Double
    public var cosine: Double
    public var saturated: Double
    /// "int8", or why it stays float.
    public var status: String
}

public struct QuantizationReport: Sendable, Codable, Equatable {
    public var mode: String
    public var method: String?
    public var calibrationImages = 0
    public var evaluationImages = 0
    public var calibrationSeconds = 0.0
    public var layers: [LayerReport] = []
    public var endToEnd: EndToEnd?
    public var bytesBefore = 0
    public var bytesAfter = 0
    public var keptFloat: [String] = []
    public var notes: [String] = []
}

/// The whole lseg-quantize job: rewrite, calibrate, evaluate, and (with maxDrop) return the most
/// sensitive layers to float until mask agreement is close enough to fp32.
public enum Quantizer {
    public typealias Progress = (_ phase: String, _ done: Int, _ total: Int) -> Void

    /// `images`: preprocessed calibration images; the last quarter is held out for evaluation
    /// (all of them are used for both when fewer than 4).
    public static func quantize(_ model: Model, images: [Tensor], options: QuantizeOptions,
                                progress: Progress = { _, _, _ in }) throws -> (model: Model, report: QuantizationReport) {
        var report = QuantizationReport(mode: options.mode.rawValue, method: options.mode == .int8 ? options.method.rawValue : nil)
        let keep = NamePatterns(options.keepFloat)
        let split = images.count >= 4 ? images.count - images.count / 4 : images.count
        let calibration = Array(images[..<split])
        let heldOut = images.count >= 4 ? Array(images[split...]) : images
        let batches = labelBatches(options.labels.isEmpty ? defaultCalibrationLabels : options.labels)

        var out = model
        var ranges: [String: [String: ClipRange]] = [:]
        var targets: [QuantizableNode] = []
        switch options.mode {
        case .fp16:
            for i in out.graphs.indices { Float16Rewrite.apply(&out.graphs[i]) }
        case .int8Weights:
            for i in out.graphs.indices { Int8WeightsRewrite.apply(&out.graphs[i], keepFloat: keep) }
        case .int8:
            guard !calibration.isEmpty else { throw QuantizeError.badArgument("int8 mode needs calibration images (--calib)") }
            targets = model.graphs.flatMap { Int8Rewrite.candidates($0, keepFloat: keep) }
            let started = Date()
            let calibrator = Calibrator(targets: targets)
            try calibrator.run(driver: try LSegDriver(model: model, threads: options.threads), images: calibration,
                               labelBatches: batches) { progress("calibrating", $0, $1) }
            report.calibrationSeconds = Date().timeIntervalSince(started)
            report.calibrationImages = calibration.count
            ranges = calibrator.ranges(method: options.method, percentile: options.percentile)
            out = rewriteInt8(model, ranges: ranges, keep: keep)
        }

        guard !heldOut.isEmpty else {
            report.layers = layerReports(targets: targets, ranges: ranges, errors: [:], kept: [:])
            gatherNarrowTables(&out)
            out.metadata.quantization = summary(report, options: options)
            return (out, report)
        }
        var kept: [String: String] = [:]   // "graph/node" -> why
        var (errors, e2e) = try evaluate(model, out, targets: targets, ranges: ranges, kept: kept, options: options,
                                         images: heldOut, batches: batches, progress: progress)
        if let maxDrop = options.maxDrop, options.mode == .int8 {
            // Most sensitive first: lowest SQNR of its own output.
            var order = targets.filter { kept[$0.graph + "/" + $0.node] == nil }
                .sorted { (errors[$0.graph]?[$0.node]?.sqnrDB ?? .infinity) < (errors[$1.graph]?[$1.node]?.sqnrDB ?? .infinity) }
            while 1 - e2e.maskAgreement > maxDrop, !order.isEmpty {
                let t = order.removeFirst()
                let sqnr = errors[t.graph]?[t.node]?.sqnrDB ?? .infinity
                kept[t.graph + "/" + t.node] = String(format: "float: --max-drop (SQNR %.1f dB, agreement drop %.4f before)", sqnr, 1 - e2e.maskAgreement)
                var reduced = ranges
                for (g, m) in ranges { reduced[g] = m.filter { kept[g + "/" + $0.key] == nil } }
                out = rewriteInt8(model, ranges: reduced, keep: keep)
                (errors, e2e) = try evaluate(model, out, targets: targets, ranges: reduced, kept: kept, options: options,
                                             images: heldOut, batches: batches, progress: progress)
            }
            if 1 - e2e.maskAgreement > maxDrop {
                report.notes.append(String(format: "agreement drop %.4f still above --max-drop %.4f with every layer float", 1 - e2e.maskAgreement, maxDrop))
            }
        }
        report.evaluationImages = heldOut.count
        report.endToEnd = e2e
        report.layers = layerReports(targets: targets, ranges: ranges, errors: errors, kept: kept)
        report.keptFloat = kept.keys.sorted()
        gatherNarrowTables(&out)
        out.metadata.quantization = summary(report, options: options)
        return (out, report)
    }

    /// Last step (after evaluation, which it does not change: the same floats): lookup tables
    /// stored fp16 or int8 are gathered narrow and only the gathered rows widened.
    static func gatherNarrowTables(_ model: inout Model) {
        for i in model.graphs.indices { LookupTableRewrite.apply(&model.graphs[i]) }
    }

    static func rewriteInt8(_ model: Model, ranges: [String: [String: ClipRange]], keep: NamePatterns) -> Model {
        var m = model
        for i in m.graphs.indices { Int8Rewrite.apply(&m.graphs[i], ranges: ranges[m.graphs[i].name] ?? [:], keepFloat: keep) }
        return m
    }

    static func evaluate(_ reference: Model, _ quantized: Model, targets: [QuantizableNode], ranges: [String: [String: ClipRange]],
                         kept: [String: String], options: QuantizeOptions, images: [Tensor], batches: [[String]],
                         progress: Progress) throws -> ([String: [String: OutputError]], EndToEnd) {
        var nodes: [String: Set<String>] = [:]
        var inputRanges: [String: [String: (String, ClipRange)]] = [:]
        if targets.isEmpty {
            // fp16 / int8-weights: compare the nodes whose weights changed.
            for g in quantized.graphs {
                let changed = Set(g.nodes.filter { n in n.op == .dequantizeLinear(axis: 0) || n.name.hasSuffix("__cast") || n.name.hasSuffix("__dequantize") }.flatMap(\.outputs))
                nodes[g.name] = Set(g.nodes.filter { n in n.inputs.contains { changed.contains($0) } && !n.name.hasSuffix("__cast") }.map(\.name))
            }
        } else {
            for t in targets where kept[t.graph + "/" + t.node] == nil {
                nodes[t.graph, default: []].insert(t.node)
                if let r = ranges[t.graph]?[t.node] { inputRanges[t.graph, default: [:]][t.node] = (t.input, r) }
            }
        }
        let measured = options.emulateInt8 ? Int8Emulation.lower(quantized) : quantized
        let e = try Evaluator(reference: reference, quantized: measured, nodes: nodes, ranges: inputRanges, threads: options.threads)
        let e2e = try e.run(images: images, labelBatches: batches) { progress("evaluating", $0, $1) }
        return (e.errors, e2e)
    }

    static func layerReports(targets: [QuantizableNode], ranges: [String: [String: ClipRange]], errors: [String: [String: OutputError]],
                             kept: [String: String]) -> [LayerReport] {
        targets.map { t in
            let r = ranges[t.graph]?[t.node] ?? ClipRange(lower: 0, upper: 1, isFallback: true)
            let p = r.uint8Params
            let e = errors[t.graph]?[t.node] ?? OutputError()
            return LayerReport(graph: t.graph, node: t.node, op: t.op, scale: p.scales[0], zeroPoint: p.zeroPoints[0],
                               lower: r.lower, upper: r.upper, fallbackRange: r.isFallback, sqnrDB: e.sqnrDB, cosine: e.cosine,
                               saturated: e.saturatedShare, status: kept[t.graph + "/" + t.node] ?? "int8")
        }
    }

    static func summary(_ r: QuantizationReport, options: QuantizeOptions) -> [String: String] {
        var s: [String: String] = ["mode": r.mode]
        if let m = r.method { s["method"] = m; if m == "percentile" { s["percentile"] = String(options.percentile) } }
        s["samples"] = String(r.calibrationImages)
        s["layers_quantized"] = String(r.layers.filter { $0.status == "int8" }.count)
        s["layers_kept_float"] = String(r.layers.count - r.layers.filter { $0.status == "int8" }.count)
        if !options.keepFloat.isEmpty { s["keep_float"] = options.keepFloat.joined(separator: ",") }
        if let e = r.endToEnd {
            s["mask_agreement"] = String(format: "%.5f", e.maskAgreement)
            s["miou_vs_fp32"] = String(format: "%.3f", e.mIoU)
            s["text_cosine_min"] = String(format: "%.5f", e.textCosineMin)
        }
        return s
    }
}
