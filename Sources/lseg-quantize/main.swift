import ArgumentParser
import Foundation
import LSeg
import Quantize
import Runtime

@main
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lseg-quantize",
        abstract: "Make an fp16, int8-weights or calibrated int8 pack from an fp32 LSeg pack, with an accuracy report.")

    @Argument(help: "The fp32 pack to quantize.") var pack = "lseg.pack"
    @Option(help: "Folder (searched recursively) or file of PNG/JPEG calibration images.") var calib: String?
    @Option(help: "int8 (calibrated qLinear/qConv), fp16 (weights stored as half) or int8-weights.") var mode: String = "int8"
    @Option(name: .shortAndLong, help: "Output pack (default: lseg-int8.pack, lseg-fp16.pack or lseg-int8w.pack next to the input).") var output: String?
    @Option(help: "Range estimator: minmax, percentile or entropy.") var method: String = "percentile"
    @Option(help: "Percentile for --method percentile.") var percentile = 99.99
    @Option(help: "Number of images used (the last quarter is held out for the report).") var samples = 32
    @Option(help: "Comma-separated labels for the text tower (default: 50 common category names).") var labels: String?
    @Option(name: .customLong("keep-float"), help: "Node name or glob to keep float (repeatable).") var keepFloat: [String] = []
    @Option(name: .customLong("max-drop"), help: "Largest allowed drop of mask agreement with fp32 (e.g. 0.01); the most sensitive layers go back to float until met.") var maxDrop: Double?
    @Option(name: .customLong("bake-labels"), help: "Comma-separated labels to bake into the output, e.g. \"road,car,person,other\": their text features (from the fp32 text tower) are stored in the image graph and the text tower and vocabulary are dropped. Also the calibration labels unless --labels is given.") var bakeLabels: String?
    @Option(help: "Write the report as JSON here.") var report: String?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Measure int8 nodes through their float emulation instead of the int8 kernels.") var emulate = false

    func run() throws {
        do {
            try quantize()
        } catch {
            FileHandle.standardError.write(Data("lseg-quantize: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    func quantize() throws {
        guard let mode = QuantizeMode(rawValue: mode) else { throw QuantizeError.badArgument("--mode \(self.mode): use int8, fp16 or int8-weights") }
        guard let method = RangeMethod(rawValue: method) else { throw QuantizeError.badArgument("--method \(self.method): use minmax, percentile or entropy") }
        guard samples > 0 else { throw QuantizeError.badArgument("--samples must be positive") }
        guard percentile > 0, percentile <= 100 else { throw QuantizeError.badArgument("--percentile must be in (0, 100]") }
        if let d = maxDrop, !(0...1).contains(d) { throw QuantizeError.badArgument("--max-drop must be in [0, 1]") }
        let inputURL = URL(fileURLWithPath: pack)
        let outPath = output ?? inputURL.deletingLastPathComponent().appendingPathComponent(mode.defaultFileName).path
        let model = try Pack.read(inputURL.path)
        guard let pre = model.metadata.preprocessing else { throw QuantizeError.badArgument("\(pack): no preprocessing metadata, not an LSeg pack") }

        var options = QuantizeOptions()
        options.mode = mode; options.method = method; options.percentile = percentile; options.samples = samples
        options.keepFloat = keepFloat; options.maxDrop = maxDrop; options.threads = threads; options.emulateInt8 = emulate
        if let labels { options.labels = labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        let baked = try bakeLabels.map { try LabelBaking.parse($0) }
        // Calibrating on the labels the pack will serve matches the activations it will see.
        if let baked, labels == nil { options.labels = baked }
        // Features from the fp32 text tower: the baked pack never runs a text tower, so its
        // features may as well be the most accurate ones.
        let features = try baked.map { try Segmenter(model: model, threads: threads).textFeatures($0) }

        var images: [Tensor] = []
        if let calib {
            let paths = try CalibrationImages.find(in: calib)
            images = CalibrationImages.load(paths, limit: samples, preprocessing: pre) { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }.map(\.tensor)
            if images.isEmpty { throw QuantizeError.noCalibrationImages(folder: calib) }
        } else if mode == .int8 {
            throw QuantizeError.badArgument("int8 mode needs --calib with calibration images")
        }
        let bar = ProgressBar()
        let (quantized, firstReport) = try Quantizer.quantize(model, images: images, options: options) { bar.update($0, $1, $2) }
        bar.finish()
        var rep = firstReport
        var output = quantized
        if let baked { output = try LabelBaking.bake(quantized, labels: baked, features: features, threads: threads) }
        let written = try Pack.write(output, to: outPath)
        rep.bytesBefore = (try? FileManager.default.attributesOfItem(atPath: pack)[.size] as? Int) ?? 0
        rep.bytesAfter = written.fileSize
        print(ReportTable.render(rep))
        if let baked { print("baked labels: \(baked.joined(separator: ", ")) (text tower and vocabulary dropped)") }
        print("wrote \(outPath)")
        if let report {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            do { try enc.encode(rep).write(to: URL(fileURLWithPath: report)) } catch { throw QuantizeError.badArgument("\(report): cannot write: \(error.localizedDescription)") }
        }
    }
}

/// A one-line progress bar with ETA on stderr, only when stderr is a terminal.
final class ProgressBar {
    let enabled = isatty(2) != 0
    var phase = ""
    var started = Date()
    func update(_ phase: String, _ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        if phase != self.phase { if !self.phase.isEmpty { FileHandle.standardError.write(Data("\n".utf8)) }; self.phase = phase; started = Date() }
        let f = Double(done) / Double(total)
        let width = 30
        let filled = Int(f * Double(width))
        let elapsed = Date().timeIntervalSince(started)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let line = String(format: "\r%@ [%@%@] %d/%d  ETA %.0fs ", phase, String(repeating: "#", count: filled),
                          String(repeating: ".", count: width - filled), done, total, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }
    func finish() { if enabled && !phase.isEmpty { FileHandle.standardError.write(Data("\n".utf8)) } }
}

/// The printed report.
enum ReportTable {
    static func render(_ r: QuantizationReport) -> String {
        var lines: [String] = []
        if !r.layers.isEmpty {
            func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
            func left(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
            let nodeWidth = min(48, r.layers.map(\.node.count).max() ?? 4)
            lines.append(pad("graph", 6) + pad("node", nodeWidth + 1) + pad("op", 8) + left("scale", 10) + left("zp", 5)
                         + left("SQNR dB", 9) + left("cosine", 9) + left("sat %", 8) + "  status")
            for l in r.layers {
                let name = l.node.count > nodeWidth ? "…" + l.node.suffix(nodeWidth - 1) : l.node
                lines.append(pad(l.graph, 6) + pad(String(name), nodeWidth + 1) + pad(l.op, 8) + left(String(format: "%.3g", l.scale), 10)
                             + left(String(l.zeroPoint), 5) + left(String(format: "%.1f", l.sqnrDB), 9) + left(String(format: "%.5f", l.cosine), 9)
                             + left(String(format: "%.3f", 100 * l.saturated), 8) + "  " + l.status + (l.fallbackRange ? " (fallback range)" : ""))
            }
        }
        lines.append("mode \(r.mode)" + (r.method.map { ", method \($0)" } ?? "") + ", calibration images \(r.calibrationImages), held-out images \(r.evaluationImages)"
                     + String(format: ", calibration %.1f s", r.calibrationSeconds))
        if let e = r.endToEnd {
            lines.append(String(format: "vs fp32: mask agreement %.2f%%, mIoU %.2f, text cosine min %.5f mean %.5f",
                                100 * e.maskAgreement, e.mIoU, e.textCosineMin, e.textCosineMean))
        }
        if r.bytesBefore > 0 {
            lines.append(String(format: "size: %.2f MB -> %.2f MB (%.2fx)", Double(r.bytesBefore) / 1e6, Double(r.bytesAfter) / 1e6,
                                Double(r.bytesAfter) / Double(r.bytesBefore)))
        }
        if !r.keptFloat.isEmpty { lines.append("kept float by --max-drop: " + r.keptFloat.joined(separator: ", ")) }
        lines.append(contentsOf: r.notes)
        return lines.joined(separator: "\n")
    }
}
