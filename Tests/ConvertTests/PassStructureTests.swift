@testable import Convert
import Runtime
import TestSupport
import XCTest

final class PassStructureTests: XCTestCase {
    private func vi(_ name: String, _ shape: [Dim] = [.fixed(2)]) -> ValueInfo { ValueInfo(name: name, dtype: .float32, shape: shape) }

    func testSortReordersAndKeepsSortedOrder() throws {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("z")], nodes: [
            Node(name: "b", op: .relu, inputs: ["y"], outputs: ["z"]),
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
        ])
        let s = try TopologicalSort.run(&g)
        XCTAssertEqual(g.nodes.map(\.name), ["a", "b"])
        XCTAssertEqual(s.rewrites, 2)
        let again = try TopologicalSort.run(&g)
        XCTAssertEqual(again.rewrites, 0)
        XCTAssertEqual(g.nodes.map(\.name), ["a", "b"])
    }

    func testSortNamesUnnamedNodes() throws {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("y")], nodes: [
            Node(name: "", op: .neg, inputs: ["x"], outputs: ["y"]),
        ])
        _ = try TopologicalSort.run(&g)
        XCTAssertEqual(g.nodes[0].name, "Neg_0")
    }

    func testValidationErrors() {
        func expectInvalid(_ g: Graph, containing text: String, line: UInt = #line) {
            var g = g
            XCTAssertThrowsError(try TopologicalSort.run(&g), line: line) { e in
                XCTAssertTrue("\(e)".contains(text), "\(e)", line: line)
            }
        }
        expectInvalid(Graph(name: "g", inputs: [vi("x")], outputs: [vi("z")], nodes: [
            Node(name: "a", op: .add, inputs: ["x", "z"], outputs: ["y"]),
            Node(name: "b", op: .neg, inputs: ["y"], outputs: ["z"]),
        ]), containing: "cycle")
        expectInvalid(Graph(name: "g", inputs: [vi("x")], outputs: [vi("y")], nodes: [
            Node(name: "a", op: .add, inputs: ["x", "w"], outputs: ["y"]),
        ]), containing: "input 'w' of node 'a' (Add) is produced by nothing")
        expectInvalid(Graph(name: "g", inputs: [vi("x")], outputs: [vi("y")], nodes: [
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
            Node(name: "b", op: .relu, inputs: ["x"], outputs: ["y"]),
        ]), containing: "value 'y' of node 'b' is also produced by node 'a'")
        expectInvalid(Graph(name: "g", inputs: [vi("x")], outputs: [vi("y")], nodes: [
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
            Node(name: "a", op: .relu, inputs: ["y"], outputs: ["z"]),
        ]), containing: "two nodes are named 'a'")
        expectInvalid(Graph(name: "g", inputs: [vi("x")], outputs: [vi("q")], nodes: [
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
        ]), containing: "graph output 'q' is produced by nothing")
    }

    func testDeadCodeKeepsMultiOutputNodeAndDropsUnusedInitializers() {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("a")], nodes: [
            Node(name: "split", op: .split(axis: 0, numOutputs: 2), inputs: ["x"], outputs: ["a", "b"]),
            Node(name: "dead", op: .add, inputs: ["b", "w"], outputs: ["c"]),
            Node(name: "dead2", op: .neg, inputs: ["c"], outputs: ["d"]),
        ], initializers: ["w": scalar(1), "unused": scalar(2)])
        let s = DeadCodeElimination.run(&g)
        XCTAssertEqual(g.nodes.map(\.name), ["split"])
        XCTAssertTrue(g.initializers.isEmpty)
        XCTAssertEqual(s.nodesBefore, 3)
        XCTAssertEqual(s.nodesAfter, 1)
    }

    func testIdentityInsideGraphIsBypassed() {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("z")], nodes: [
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
            Node(name: "id", op: .identity, inputs: ["y"], outputs: ["y2"]),
            Node(name: "b", op: .relu, inputs: ["y2"], outputs: ["z"]),
        ])
        let s = IdentityRemoval.run(&g)
        XCTAssertEqual(s.rewrites, 1)
        XCTAssertEqual(g.nodes.map(\.name), ["a", "b"])
        XCTAssertEqual(g.nodes[1].inputs, ["y"])
    }

    func testIdentityFeedingOutputRenamesProducer() {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("out")], nodes: [
            Node(name: "a", op: .neg, inputs: ["x"], outputs: ["y"]),
            Node(name: "b", op: .relu, inputs: ["y"], outputs: ["r"]),
            Node(name: "c", op: .add, inputs: ["y", "r"], outputs: ["s"]),
            Node(name: "id", op: .identity, inputs: ["y"], outputs: ["out"]),
        ])
        _ = IdentityRemoval.run(&g)
        XCTAssertEqual(g.nodes.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(g.nodes[0].outputs, ["out"])
        XCTAssertEqual(g.nodes[1].inputs, ["out"])
        XCTAssertEqual(g.nodes[2].inputs, ["out", "r"])
        XCTAssertEqual(g.outputs.map(\.name), ["out"])
    }

    func testIdentityFromInputToOutputStays() {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("out")], nodes: [
            Node(name: "id", op: .identity, inputs: ["x"], outputs: ["out"]),
        ])
        let s = IdentityRemoval.run(&g)
        XCTAssertEqual(g.nodes.count, 1)
        XCTAssertEqual(s.rewrites, 0)
    }

    func testDuplicateInitializersMerge() {
        var g = Graph(name: "g", inputs: [vi("x")], outputs: [vi("z")], nodes: [
            Node(name: "a", op: .add, inputs: ["x", "w2"], outputs: ["y"]),
            Node(name: "b", op: .mul, inputs: ["y", "w1"], outputs: ["y3"]),
            Node(name: "c", op: .mul, inputs: ["y3", "other"], outputs: ["z"]),
        ], initializers: [
            "w1": .float32([1, 2], shape: [2]), "w2": .float32([1, 2], shape: [2]),
            "other": .float32([1, 3], shape: [2]),
        ])
        let s = InitializerDeduplication.run(&g)
        XCTAssertEqual(s.rewrites, 1)
        XCTAssertEqual(Set(g.initializers.keys), ["w1", "other"])
        XCTAssertEqual(g.nodes[0].inputs, ["x", "w1"])
        XCTAssertEqual(g.nodes[2].inputs, ["y3", "other"])
    }
}
