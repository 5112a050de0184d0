import Foundation
import Runtime

/// 1536 -> "1.5 KB": decimal units, as file managers show sizes.
func humanBytes(_ n: Int) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var v = Double(n), u = 0
    while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

extension InspectReport.Value {
    var text: String { "\(name)  \(dtype) \(shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "(rank unknown)")" }
}

extension InspectReport {
    func text() -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let m = metadata
        line("\(file): pack \(version), \(humanBytes(fileBytes))\(verified ? ", all checksums verified" : "")")
        line("producer: \(m.producer) \(m.producerVersion)")
        for s in m.sources { line("source: \(s.name)  \(humanBytes(s.bytes))  sha256 \(s.sha256)") }
        if !m.roles.isEmpty { line("roles: " + m.roles.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }
        for l in m.links { line("link: \(l.fromGraph).\(l.fromOutput) -> \(l.toGraph).\(l.toInput)") }
        if let p = m.preprocessing {
            line("preprocessing: \(p.height)x\(p.width), mean \(p.mean), std \(p.std)")
        }
        if let v = m.vocabularyTensor { line("vocabulary: tensor '\(v)'") }
        line("quantization: " + (m.quantization.isEmpty ? "none" :
            m.quantization.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))
        for (k, v) in m.extra.sorted(by: { $0.key < $1.key }) { line("\(k): \(v)") }

        for g in graphs {
            line()
            line("graph '\(g.name)'\(g.role.map { " (role \($0))" } ?? ""): \(g.nodeCount) nodes, "
                 + "\(g.initializerCount) initializers, \(g.parameterCount) parameters")
            line("  inputs:")
            for v in g.inputs { line("    " + v.text) }
            line("  outputs:")
            for v in g.outputs { line("    " + v.text) }
            line("  ops: " + g.ops.map { "\($0.op) \($0.count)" }.joined(separator: ", "))
        }

        line()
        line("tensors: \(tensors.count)")
        let nameWidth = min(60, tensors.map(\.name.count).max() ?? 0)
        for t in tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            var row = t.name.padding(toLength: max(nameWidth, t.name.count), withPad: " ", startingAt: 0)
            row += "  " + t.dtype.padding(toLength: 8, withPad: " ", startingAt: 0)
            row += " " + shape.padding(toLength: max(20, shape.count), withPad: " ", startingAt: 0)
            row += " " + t.codec.padding(toLength: 12, withPad: " ", startingAt: 0)
            row += " \(humanBytes(t.storedBytes)) / \(humanBytes(t.rawBytes))"
            if let q = t.quantization {
                row += q.axis.map { "  quant per-channel axis \($0) (\(q.scales.count) scales)" } ?? "  quant per-tensor"
            }
            line(row)
        }
        line(String(format: "total: %@ stored, %@ raw, ratio %.3f", humanBytes(storedTensorBytes), humanBytes(rawTensorBytes), ratio))
        return out
    }
}
