@testable import Convert
import Foundation
import Runtime
import TestSupport

// Small builders the pass tests share.

/// A float32 value of fixed shape.
func f32(_ name: String, _ shape: [Int]) -> ValueInfo { ValueInfo(name: name, dtype: .float32, shape: shape.map { .fixed($0) }) }

/// A 1-D int64 constant (Reshape shapes, Gather indices, Slice bounds).
func i64(_ v: [Int]) -> Tensor { .int64(v.map(Int64.init), shape: [v.count]) }

/// Nodes of `g` whose op type is `name`.
func count(_ g: Graph, _ name: String) -> Int { g.nodes.filter { $0.op.typeName == name }.count }

/// `n` CLIP token rows of 77: start token, two words, end token at position 3, zeros after.
func tokens(_ n: Int) -> Tensor {
    var ids = [Int64](repeating: 0, count: n * 77)
    for i in 0..<n { ids[i * 77] = 49406; ids[i * 77 + 1] = Int64(320 + 7 * i); ids[i * 77 + 2] = 1929; ids[i * 77 + 3] = 49407 }
    return .int64(ids, shape: [n, 77])
}

/// A golden export under golden/models, imported without hashing its sources.
func imported(_ relative: String) throws -> Graph {
    try ONNXImporter.load(repositoryRoot.appendingPathComponent("golden/models/\(relative)"), hashSources: false).graph
}
