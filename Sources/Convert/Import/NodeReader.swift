import Foundation
import Runtime

/// One ONNX node as an op-import function sees it: typed attribute access with defaults,
/// tracking which attributes were read so that an attribute we do not understand is an
/// error rather than silently ignored. Functions may rewrite inputs and outputs (Dropout).
struct NodeReader {
    let file: String
    let name: String
    let opType: String
    let opset: Int
    var inputs: [String]
    var outputs: [String]
    let attributes: [String: AttributeValue]
    /// Whether a value name is read by some node or is a graph output.
    let isUsed: (String) -> Bool
    private(set) var read: Set<String> = []

    init(file: String, name: String, opType: String, opset: Int, inputs: [String], outputs: [String],
         attributes: [String: AttributeValue], isUsed: @escaping (String) -> Bool) {
        self.file = file; self.name = name; self.opType = opType; self.opset = opset
        self.inputs = inputs; self.outputs = outputs; self.attributes = attributes; self.isUsed = isUsed
    }

    func fail(_ what: String) -> ConvertError { .badNode(file: file, node: name, op: opType, what: what) }

    private mutating func take(_ key: String) -> AttributeValue? {
        read.insert(key)
        return attributes[key]
    }

    private func wrongType(_ key: String, _ v: AttributeValue, _ want: String) -> ConvertError {
        fail("attribute '\(key)' is \(v.typeName), expected \(want)")
    }

    mutating func has(_ key: String) -> Bool { attributes[key] != nil }

    mutating func int(_ key: String) throws -> Int? {
        guard let v = take(key) else { return nil }
        guard case .int(let x) = v else { throw wrongType(key, v, "INT") }
        return x
    }

    mutating func int(_ key: String, _ fallback: Int) throws -> Int { try int(key) ?? fallback }

    mutating func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        guard let x = try int(key) else { return fallback }
        guard x == 0 || x == 1 else { throw fail("attribute '\(key)' must be 0 or 1, got \(x)") }
        return x == 1
    }

    mutating func float(_ key: String, _ fallback: Float) throws -> Float {
        guard let v = take(key) else { return fallback }
        guard case .float(let x) = v else { throw wrongType(key, v, "FLOAT") }
        return x
    }

    mutating func string(_ key: String) throws -> String? {
        guard let v = take(key) else { return nil }
        guard case .string(let x) = v else { throw wrongType(key, v, "STRING") }
        return x
    }

    mutating func ints(_ key: String) throws -> [Int]? {
        guard let v = take(key) else { return nil }
        guard case .ints(let x) = v else { throw wrongType(key, v, "INTS") }
        return x
    }

    mutating func tensor(_ key: String) throws -> Tensor? {
        guard let v = take(key) else { return nil }
        guard case .tensor(let x) = v else { throw wrongType(key, v, "TENSOR") }
        return x
    }

    /// A string attribute that must be one of an enum's raw values.
    mutating func choice<E: RawRepresentable>(_ key: String, _ fallback: E) throws -> E where E.RawValue == String {
        guard let s = try string(key) else { return fallback }
        guard let e = E(rawValue: s) else { throw fail("attribute '\(key)' has unknown value '\(s)'") }
        return e
    }

    /// Attributes that do not change inference results (training-only, seeds).
    mutating func ignore(_ keys: String...) { for k in keys { read.insert(k) } }

    /// Attributes present but never read by the op's import function.
    var unread: [String] { attributes.keys.filter { !read.contains($0) }.sorted() }

    /// Refuses a use of the optional output at `index` (one we do not compute).
    func requireUnused(output index: Int, _ what: String) throws {
        if index < outputs.count, !outputs[index].isEmpty, isUsed(outputs[index]) {
            throw fail("output \(index) ('\(outputs[index])', \(what)) is used; only inference outputs are supported")
        }
    }

    /// Keeps only the first `n` outputs (after checking the rest are unused).
    mutating func dropOutputs(after n: Int, _ what: String) throws {
        for i in n..<max(n, outputs.count) { try requireUnused(output: i, what) }
        if outputs.count > n { outputs.removeLast(outputs.count - n) }
    }
}

/// Checks applied to spatial attribute lists (kernel, strides, pads, dilations).
extension NodeReader {
    func positive(_ key: String, _ v: [Int]) throws -> [Int] {
        guard v.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }) else { throw fail("attribute '\(key)' must be positive, got \(v)") }
        return v
    }

    func nonNegative(_ key: String, _ v: [Int]) throws -> [Int] {
        guard v.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else { throw fail("attribute '\(key)' must be non-negative, got \(v)") }
        return v
    }

    /// All present lists agree on the number of spatial axes (pads counts begin and end).
    func sameSpatialRank(_ lists: [(String, [Int], Int)]) throws {
        var rank: Int?
        for (key, v, perAxis) in lists where !v.isEmpty {
            guard v.count % perAxis == 0 else { throw fail("attribute '\(key)' has \(v.count) values, not a multiple of \(perAxis)") }
            let r = v.count / perAxis
            if let rank, rank != r { throw fail("attribute '\(key)' is for \(r) spatial axes, others for \(rank)") }
            rank = r
        }
    }
}
