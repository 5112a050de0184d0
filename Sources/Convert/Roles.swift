import Foundation
import Runtime

/// Which part of LSeg a graph is, and splitting a combined export into its two towers.
/// - `text`: the only input is int64 tokens [N, 77].
/// - `image`: a float image [B, 3, H, W], optionally with float text features [N, C].
/// - combined (tokens and image): split at the text-feature boundary into `text` and
///   `image`, linked so text features are computed once per label set.
/// - anything else: `main`.
public enum Roles {
    public static let text = "text", image = "image", main = "main"

    /// Graphs named by role (`text`, `image` or `main`) and how they connect.
    public struct Split: Sendable {
        public var graphs: [Graph]
        public var links: [GraphLink]
        /// Graph name -> role, as `Metadata.roles` records it.
        public var roles: [String: String] { Dictionary(uniqueKeysWithValues: graphs.map { ($0.name, $0.name) }) }
    }

    static func isTokens(_ v: ValueInfo) -> Bool {
        v.dtype == .int64 && v.shape?.count == 2 && v.shape?[1] == .fixed(77)
    }

    static func isImage(_ v: ValueInfo) -> Bool {
        v.dtype.isFloat && v.shape?.count == 4 && v.shape?[1] == .fixed(3)
    }

    static func isFeatures(_ v: ValueInfo) -> Bool { v.dtype.isFloat && v.shape?.count == 2 }

    /// The role of a graph from its inputs: `text`, `image`, `main`, or nil for a combined export.
    public static func role(of g: Graph) -> String? {
        let ins = g.inputs
        if ins.count == 1 && isTokens(ins[0]) { return text }
        if ins.count == 2, ins.contains(where: isTokens), ins.contains(where: isImage) { return nil }
        if ins.count == 1 && isImage(ins[0]) { return image }
        if ins.count == 2, ins.contains(where: isImage), ins.contains(where: { isFeatures($0) && !isImage($0) }) { return image }
        return main
    }

    /// Names `g` by its role, splitting a combined export into `text` and `image`. A combined
    /// graph whose text part does not end in exactly one float [N, C] tensor stays `main`.
    public static func split(_ g: Graph) -> Split {
        guard let r = role(of: g) else {
            if let s = splitCombined(g) { return s }
            return Split(graphs: [renamed(g, main)], links: [])
        }
        return Split(graphs: [renamed(g, r)], links: [])
    }

    static func renamed(_ g: Graph, _ name: String) -> Graph {
        var c = g
        c.name = name
        return c
    }

    static func splitCombined(_ g: Graph) -> Split? {
        guard let tokens = g.inputs.first(where: isTokens) else { return nil }
        // Values that depend on no graph input (initializers and what is computed from them only).
        var constant = Set(g.initializers.keys)
        // Values that depend on the tokens and on nothing else but constants.
        var textValues: Set<String> = [tokens.name]
        var textNodes: Set<Int> = [], constNodes: Set<Int> = []
        for (i, n) in g.nodes.enumerated() {
            let ins = n.inputs.filter { !$0.isEmpty }
            if ins.allSatisfy(constant.contains) {
                constNodes.insert(i)
                constant.formUnion(n.outputs)
            } else if ins.allSatisfy({ constant.contains($0) || textValues.contains($0) }) {
                textNodes.insert(i)
                textValues.formUnion(n.outputs)
            }
        }
        // The boundary is where the text part hands [N, C] features to the rest. The largest
        // token-only part may end later (text features transposed for the image matmul); then
        // the nodes after the [N, C] point move to the image side, one at a time.
        var b = ""
        var info: ValueInfo?
        for _ in 0..<16 {
            let boundary = boundaryValues(g, textNodes: textNodes, constNodes: constNodes, tokens: tokens.name)
            guard boundary.count == 1, boundary[0] != tokens.name else { return nil }
            b = boundary[0]
            info = boundaryType(g, b, textNodes: textNodes, tokens: tokens)
            if let v = info, v.dtype.isFloat, let s = v.shape, s.count == 2, s[0] == tokens.shape?[0] { break }
            // Back off over a layout op that produced it.
            guard let p = textNodes.first(where: { g.nodes[$0].outputs.contains(b) }), isLayout(g.nodes[p].op) else { return nil }
            var drop: Set<String> = Set(g.nodes[p].outputs)
            textNodes.remove(p)
            for (i, n) in g.nodes.enumerated() where textNodes.contains(i) && n.inputs.contains(where: drop.contains) {
                textNodes.remove(i)
                drop.formUnion(n.outputs)
            }
            info = nil
        }
        guard let info, info.dtype.isFloat, info.shape?.count == 2, info.shape?[0] == tokens.shape?[0] else { return nil }
        textValues = [tokens.name]
        for i in textNodes { textValues.formUnion(g.nodes[i].outputs) }

        func subgraph(_ name: String, nodes keep: Set<Int>, inputs: [ValueInfo], outputs: [ValueInfo]) -> Graph {
            // Constant nodes go with every part that reads them.
            var needed = Set<String>()
            var chosen = keep
            for i in keep { needed.formUnion(g.nodes[i].inputs) }
            for i in g.nodes.indices.reversed() where constNodes.contains(i) && g.nodes[i].outputs.contains(where: needed.contains) {
                chosen.insert(i)
                needed.formUnion(g.nodes[i].inputs)
            }
            let nodes = g.nodes.indices.filter(chosen.contains).map { g.nodes[$0] }
            var sub = Graph(name: name, inputs: inputs, outputs: outputs, nodes: nodes)
            for x in needed { if let t = g.initializers[x] { sub.initializers[x] = t } }
            let produced = Set(nodes.flatMap(\.outputs))
            sub.valueInfo = g.valueInfo.filter { produced.contains($0.key) }
            return sub
        }
        let textOutputs = [info] + g.outputs.filter { textValues.contains($0.name) && $0.name != b }
        let textGraph = subgraph(text, nodes: textNodes, inputs: [tokens], outputs: textOutputs)
        let rest = Set(g.nodes.indices).subtracting(textNodes).subtracting(constNodes)
        let imageInputs = g.inputs.filter { $0.name != tokens.name } + [info]
        let imageGraph = subgraph(image, nodes: rest, inputs: imageInputs, outputs: g.outputs.filter { !textValues.contains($0.name) })
        guard !imageGraph.outputs.isEmpty else { return nil }
        return Split(graphs: [textGraph, imageGraph],
                     links: [GraphLink(fromGraph: text, fromOutput: b, toGraph: image, toInput: b)])
    }

    /// Text values read by nodes outside the text and constant parts, in node order.
    static func boundaryValues(_ g: Graph, textNodes: Set<Int>, constNodes: Set<Int>, tokens: String) -> [String] {
        var textValues: Set<String> = [tokens]
        for i in textNodes { textValues.formUnion(g.nodes[i].outputs) }
        var boundary: [String] = []
        for (i, n) in g.nodes.enumerated() where !textNodes.contains(i) && !constNodes.contains(i) {
            for x in n.inputs where textValues.contains(x) && !boundary.contains(x) { boundary.append(x) }
        }
        return boundary
    }

    /// Ops that only rearrange or relabel their input.
    static func isLayout(_ op: Op) -> Bool {
        switch op {
        case .transpose, .reshape, .flatten, .unsqueeze, .squeeze, .identity, .cast, .expand: return true
        default: return false
        }
    }

    /// The boundary's type: from value_info when the export has it, else worked out along the
    /// text part by `StructuralShapes`.
    static func boundaryType(_ g: Graph, _ name: String, textNodes: Set<Int>, tokens: ValueInfo) -> ValueInfo? {
        if let v = g.valueInfo[name], v.shape != nil { return v }
        var known: [String: (DType, [Dim])] = [:]
        for (k, t) in g.initializers { known[k] = (t.dtype, t.shape.map { .fixed($0) }) }
        for v in g.inputs + Array(g.valueInfo.values) { if let s = v.shape { known[v.name] = (v.dtype, s) } }
        for (i, n) in g.nodes.enumerated() where textNodes.contains(i) {
            let ins = n.inputs.map { $0.isEmpty ? nil : known[$0] }
            guard let outs = StructuralShapes.infer(n.op, ins, constants: g.initializers, inputNames: n.inputs) else { continue }
            for (o, t) in zip(n.outputs, outs) where known[o] == nil { known[o] = t }
        }
        guard let (dtype, shape) = known[name] else { return nil }
        return ValueInfo(name: name, dtype: dtype, shape: shape)
    }
}

/// Rank-and-dims propagation for the ops that end a text tower, for exports without
/// value_info. Returns nil when it cannot tell (the split is then not made).
enum StructuralShapes {
    static func infer(_ op: Op, _ ins: [(DType, [Dim])?], constants: [String: Tensor], inputNames: [String]) -> [(DType, [Dim])]? {
        func input(_ i: Int) -> (DType, [Dim])? { i < ins.count ? ins[i] : nil }
        switch op {
        case .sqrt, .erf, .sigmoid, .relu, .tanh, .exp, .log, .neg, .abs, .reciprocal, .floor, .ceil, .sin, .cos,
             .leakyRelu, .gelu, .quickGelu, .clip, .identity, .softmax, .layerNorm, .batchNorm:
            return input(0).map { [$0] }
        case .cast(let to):
            return input(0).map { [(to, $0.1)] }
        case .add, .sub, .mul, .div, .pow, .max, .min, .mod:
            guard let a = input(0), let b = input(1) else { return nil }
            return broadcast(a.1, b.1).map { [(a.0, $0)] }
        case .matMul:
            guard let a = input(0), let b = input(1), a.1.count >= 2, b.1.count >= 2 else { return nil }
            guard let batch = broadcast(Array(a.1.dropLast(2)), Array(b.1.dropLast(2))) else { return nil }
            return [(a.0, batch + [a.1[a.1.count - 2], b.1[b.1.count - 1]])]
        case .gemm(let attrs):
            guard let a = input(0), let b = input(1), a.1.count == 2, b.1.count == 2 else { return nil }
            return [(a.0, [attrs.transA ? a.1[1] : a.1[0], attrs.transB ? b.1[0] : b.1[1]])]
        case .gather(let axis):
            guard let d = input(0), let idx = input(1) else { return nil }
            let ax = axis < 0 ? axis + d.1.count : axis
            guard ax >= 0, ax < d.1.count else { return nil }
            return [(d.0, Array(d.1[..<ax]) + idx.1 + Array(d.1[(ax + 1)...]))]
        case .gatherND(let b):
            guard let d = input(0), let idx = input(1), let k = idx.1.last?.value, b + k <= d.1.count else { return nil }
            return [(d.0, Array(idx.1.dropLast()) + Array(d.1[(b + k)...]))]
        case .transpose(let perm):
            guard let x = input(0) else { return nil }
            let p = perm ?? Array((0..<x.1.count).reversed())
            guard p.count == x.1.count else { return nil }
            return [(x.0, p.map { x.1[$0] })]
        case .flatten(let axis):
            guard let x = input(0) else { return nil }
            let ax = axis < 0 ? axis + x.1.count : axis
            func product(_ s: ArraySlice<Dim>) -> Dim {
                guard let v = Array(s).concrete else { return s.count == 1 ? s.first! : .symbol("flat") }
                return .fixed(v.reduce(1, *))
            }
            return [(x.0, [product(x.1[..<ax]), product(x.1[ax...])])]
        case .reduce(_, let attrs):
            guard let x = input(0) else { return nil }
            var axes = attrs.axes
            if inputNames.count > 1, let t = constants[inputNames[1]] { axes = t.integers() }
            guard let a = axes else { return nil }
            let norm = Set(a.map { $0 < 0 ? $0 + x.1.count : $0 })
            if attrs.keepDims { return [(x.0, x.1.enumerated().map { norm.contains($0.offset) ? .fixed(1) : $0.element })] }
            return [(x.0, x.1.enumerated().filter { !norm.contains($0.offset) }.map(\.element))]
        case .argMax(let axis, let keep, _):
            guard let x = input(0) else { return nil }
            let ax = axis < 0 ? axis + x.1.count : axis
            guard ax >= 0, ax < x.1.count else { return nil }
            var s = x.1
            if keep { s[ax] = .fixed(1) } else { s.remove(at: ax) }
            return [(.int64, s)]
        default:
            return nil
        }
    }

    static func broadcast(_ a: [Dim], _ b: [Dim]) -> [Dim]? {
        let n = max(a.count, b.count)
        var out: [Dim] = []
        for i in 0..<n {
            let x = i < n - a.count ? Dim.fixed(1) : a[i - (n - a.count)]
            let y = i < n - b.count ? Dim.fixed(1) : b[i - (n - b.count)]
            if x == .fixed(1) { out.append(y) } else if y == .fixed(1) || x == y { out.append(x) } else { out.append(x) }
        }
        return out
    }
}
