import COnnx
import Foundation
import Runtime

/// Builds our `Graph` from a decoded GraphProto: initializers, inputs and outputs with
/// symbolic dims, Constant nodes as initializers, every other node through `OpTable`;
/// checks names (duplicates, dangling inputs) and puts the nodes in topological order.
final class GraphImporter {
    let file: String
    let tensors: TensorDecoder
    /// Default domain is "".
    let opsets: [String: Int]
    private var symbols: Set<String> = []
    private var unnamedCount = 0

    init(file: String, tensors: TensorDecoder, opsets: [String: Int]) {
        self.file = file; self.tensors = tensors; self.opsets = opsets
    }

    static func normalizedDomain(_ d: String) -> String { d == "ai.onnx" ? "" : d }

    func importGraph(_ gp: UnsafeMutablePointer<Onnx__GraphProto>, name: String) throws -> Graph {
        let g = gp.pointee
        let protoInputs = cMessages(g.input, g.n_input)
        let protoOutputs = cMessages(g.output, g.n_output)
        let protoInfos = cMessages(g.value_info, g.n_value_info)
        let protoNodes = cMessages(g.node, g.n_node)
        for v in protoInputs + protoOutputs + protoInfos { collectSymbols(v) }

        var graph = Graph(name: name)
        // Where each value comes from, for error messages and duplicate checks.
        var origin: [String: String] = [:]
        func define(_ value: String, _ by: String) throws {
            if let first = origin[value] { throw ConvertError.duplicateName(file: file, name: value, what: "by \(first) and by \(by)") }
            origin[value] = by
        }

        for t in cMessages(g.initializer, g.n_initializer) {
            let n = cString(t.pointee.name)
            guard !n.isEmpty else { throw ConvertError.badTensor(file: file, tensor: "", what: "an initializer has no name") }
            try define(n, "an initializer")
            graph.initializers[n] = try tensors.tensor(t)
        }
        for s in cMessages(g.sparse_initializer, g.n_sparse_initializer) {
            let n = s.pointee.values.map { cString($0.pointee.name) } ?? ""
            guard !n.isEmpty else { throw ConvertError.badTensor(file: file, tensor: "", what: "a sparse initializer has no name") }
            try define(n, "a sparse initializer")
            graph.initializers[n] = try tensors.sparseTensor(s, fallbackName: n)
        }
        var inputNames: Set<String> = []
        for v in protoInputs {
            let n = cString(v.pointee.name)
            guard !n.isEmpty else { throw ConvertError.badValue(file: file, value: "", what: "a graph input has no name") }
            guard inputNames.insert(n).inserted else { throw ConvertError.duplicateName(file: file, name: n, what: "two graph inputs") }
            // Older exporters list initializers as inputs too; those are weights, not model inputs.
            if graph.initializers[n] != nil { continue }
            try define(n, "a graph input")
            graph.inputs.append(try valueInfo(v, required: true)!)
        }

        // Unsupported ops first, all of them, so one run lists every offender.
        try checkSupported(protoNodes)

        // Names: unnamed nodes get "<OpType>_<index>"; repeated names get a suffix.
        var nodeNames: [String] = []
        var usedNodeNames: Set<String> = []
        for (i, n) in protoNodes.enumerated() {
            let given = cString(n.pointee.name)
            var name = given.isEmpty ? "\(cString(n.pointee.op_type))_\(i)" : given
            if usedNodeNames.contains(name) {
                var k = 2
                while usedNodeNames.contains("\(name)_\(k)") { k += 1 }
                name = "\(name)_\(k)"
            }
            usedNodeNames.insert(name)
            nodeNames.append(name)
        }

        // Definitions and uses.
        var nodeInputs: [[String]] = []
        var nodeOutputs: [[String]] = []
        var used: Set<String> = []
        for (i, n) in protoNodes.enumerated() {
            var ins = cMessagesStrings(n.pointee.input, n.pointee.n_input)
            var outs = cMessagesStrings(n.pointee.output, n.pointee.n_output)
            // Trailing empty names are omitted optional inputs/outputs.
            while ins.last == "" { ins.removeLast() }
            while outs.last == "" { outs.removeLast() }
            for o in outs where !o.isEmpty { try define(o, "node '\(nodeNames[i])'") }
            for x in ins where !x.isEmpty { used.insert(x) }
            nodeInputs.append(ins)
            nodeOutputs.append(outs)
        }
        let outputNames = protoOutputs.map { cString($0.pointee.name) }
        for o in outputNames { used.insert(o) }

        // Map nodes.
        var nodes: [Node] = []
        nodes.reserveCapacity(protoNodes.count)
        let isUsed: (String) -> Bool = { used.contains($0) }
        for (i, n) in protoNodes.enumerated() {
            let opType = cString(n.pointee.op_type)
            let name = nodeNames[i]
            for x in nodeInputs[i] where !x.isEmpty && origin[x] == nil {
                throw ConvertError.danglingInput(file: file, node: name, op: opType, input: x)
            }
            let attributes = try AttributeDecoding.decode(n, nodeName: name, opType: opType, tensors: tensors)
            if opType == "Constant" {
                let (out, value) = try constant(name: name, inputs: nodeInputs[i], outputs: nodeOutputs[i], attributes: attributes)
                graph.initializers[out] = value
                continue
            }
            let entry = OpTable.table[opType]!  // checkSupported guaranteed it
            var r = NodeReader(file: file, name: name, opType: opType, opset: opsets[""] ?? 0,
                               inputs: nodeInputs[i], outputs: nodeOutputs[i], attributes: attributes, isUsed: isUsed)
            guard entry.inputs.contains(r.inputs.count) else {
                throw r.fail("has \(r.inputs.count) inputs, expected \(describe(entry.inputs))")
            }
            guard entry.outputs.contains(r.outputs.count) else {
                throw r.fail("has \(r.outputs.count) outputs, expected \(describe(entry.outputs))")
            }
            let op = try entry.make(&r)
            if let extra = r.unread.first { throw r.fail("attribute '\(extra)' is not supported") }
            nodes.append(Node(name: name, op: op, inputs: r.inputs, outputs: r.outputs))
        }
        graph.nodes = try topologicalOrder(nodes)

        for v in protoOutputs {
            let n = cString(v.pointee.name)
            guard origin[n] != nil else {
                throw ConvertError.badValue(file: file, value: n, what: "graph output that no node, input or initializer defines")
            }
            graph.outputs.append(try valueInfo(v, required: true)!)
        }
        for v in protoInfos {
            if let info = try valueInfo(v, required: false) { graph.valueInfo[info.name] = info }
        }
        return graph
    }

    private func describe(_ r: ClosedRange<Int>) -> String {
        r.lowerBound == r.upperBound ? "\(r.lowerBound)" : r.upperBound == OpTable.many ? "at least \(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
    }

    private func cMessagesStrings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
        guard let p, n > 0 else { return [] }
        return (0..<n).map { cString(p[$0]) }
    }

    /// Every node's op must be in the table for the opset the model imports; collects all offenders.
    private func checkSupported(_ nodes: [UnsafeMutablePointer<Onnx__NodeProto>]) throws {
        var order: [String] = []
        var found: [String: UnsupportedOp] = [:]
        for (i, n) in nodes.enumerated() {
            let opType = cString(n.pointee.op_type)
            let domain = Self.normalizedDomain(cString(n.pointee.domain))
            let opset = opsets[domain]
            var reason: String?
            if !domain.isEmpty {
                reason = "domain not supported"
            } else if opType == "Constant" {
                continue
            } else if let e = OpTable.table[opType] {
                if let v = opset, v < e.since { reason = "needs opset \(e.since)" } else { continue }
            } else {
                reason = nil
            }
            let key = "\(domain)\u{1}\(opType)"
            let nodeName = cString(n.pointee.name).isEmpty ? "\(opType)_\(i)" : cString(n.pointee.name)
            if var u = found[key] {
                u.count += 1
                if u.nodes.count < 3 { u.nodes.append(nodeName) }
                found[key] = u
            } else {
                order.append(key)
                found[key] = UnsupportedOp(opType: opType, domain: domain, opset: opset, count: 1, nodes: [nodeName], reason: reason)
            }
        }
        if !order.isEmpty { throw ConvertError.unsupportedOps(file: file, ops: order.map { found[$0]! }) }
    }

    /// A Constant node's value, which becomes an initializer named by its output.
    private func constant(name: String, inputs: [String], outputs: [String],
                          attributes: [String: AttributeValue]) throws -> (String, Tensor) {
        func fail(_ what: String) -> ConvertError { .badNode(file: file, node: name, op: "Constant", what: what) }
        guard inputs.isEmpty else { throw fail("a Constant has no inputs, this one has \(inputs.count)") }
        guard outputs.count == 1, !outputs[0].isEmpty else { throw fail("a Constant has one output, this one has \(outputs.count)") }
        guard attributes.count == 1, let (key, value) = attributes.first else {
            throw fail("exactly one value attribute expected, found \(attributes.keys.sorted())")
        }
        let t: Tensor
        switch (key, value) {
        case ("value", .tensor(let x)), ("sparse_value", .sparseTensor(let x)): t = x
        case ("value_float", .float(let x)): t = .float32([x], shape: [])
        case ("value_floats", .floats(let x)): t = .float32(x, shape: [x.count])
        case ("value_int", .int(let x)): t = .int64([Int64(x)], shape: [])
        case ("value_ints", .ints(let x)): t = .int64(x.map { Int64($0) }, shape: [x.count])
        case ("value_string", _), ("value_strings", _): throw fail("string constants are not supported")
        default: throw fail("attribute '\(key)' of type \(value.typeName) is not a Constant value")
        }
        return (outputs[0], t)
    }

    private func collectSymbols(_ v: UnsafeMutablePointer<Onnx__ValueInfoProto>) {
        guard let t = v.pointee.type, t.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
              let tt = t.pointee.tensor_type, let s = tt.pointee.shape else { return }
        for d in cMessages(s.pointee.dim, s.pointee.n_dim)
        where d.pointee.value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM {
            symbols.insert(cString(d.pointee.dim_param))
        }
    }

    /// A fresh symbol for a dimension that has neither a value nor a name.
    private func freshSymbol() -> String {
        while true {
            unnamedCount += 1
            let s = "unnamed_\(unnamedCount)"
            if !symbols.contains(s) { symbols.insert(s); return s }
        }
    }

    /// Converts a ValueInfoProto. With `required`, a missing or non-tensor type is an error;
    /// otherwise (value_info) entries we cannot represent are skipped.
    private func valueInfo(_ v: UnsafeMutablePointer<Onnx__ValueInfoProto>, required: Bool) throws -> ValueInfo? {
        let name = cString(v.pointee.name)
        func fail(_ what: String) -> ConvertError { .badValue(file: file, value: name, what: what) }
        guard let t = v.pointee.type, t.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, let tt = t.pointee.tensor_type else {
            if required { throw fail("has no tensor type") }
            return nil
        }
        let code = tt.pointee.elem_type
        guard code > 0, code <= 255, code != 8, let dtype = DType(rawValue: UInt8(code)) else {
            if required { throw fail("element type \(code) (\(TensorDecoder.onnxTypeName(code))) is not supported") }
            return nil
        }
        let shape = try AttributeDecoding.dims(tt.pointee.shape, unnamed: freshSymbol, fail: fail)
        return ValueInfo(name: name, dtype: dtype, shape: shape)
    }

    /// Nodes in an order where every value is produced before it is read: the file's order
    /// when it already is one, else a depth-first order; a cycle is an error naming its nodes.
    func topologicalOrder(_ nodes: [Node]) throws -> [Node] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { producer[o] = i } }
        var sorted = true
        var seen = Set<String>()
        check: for n in nodes {
            for x in n.inputs where !x.isEmpty && producer[x] != nil && !seen.contains(x) { sorted = false; break check }
            for o in n.outputs { seen.insert(o) }
        }
        if sorted { return nodes }

        // 0 = unvisited, 1 = on the stack, 2 = done. Iterative, so deep graphs cannot overflow the stack.
        var state = [UInt8](repeating: 0, count: nodes.count)
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        for root in nodes.indices where state[root] == 0 {
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            state[root] = 1
            while let top = stack.last {
                let ins = nodes[top.node].inputs
                if top.next < ins.count {
                    stack[stack.count - 1].next += 1
                    guard let p = producer[ins[top.next]] else { continue }
                    if state[p] == 1 {
                        let start = stack.firstIndex { $0.node == p }!
                        let cycle = stack[start...].map { nodes[$0.node].name } + [nodes[p].name]
                        throw ConvertError.cycle(file: file, nodes: cycle)
                    }
                    if state[p] == 0 { state[p] = 1; stack.append((p, 0)) }
                } else {
                    state[top.node] = 2
                    order.append(top.node)
                    stack.removeLast()
                }
            }
        }
        return order.map { nodes[$0] }
    }
}
