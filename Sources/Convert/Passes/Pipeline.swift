import Runtime

/// Runs the graph passes in order until nothing changes:
/// validate and sort; then repeatedly Identity removal, dead code elimination, shape inference,
/// constant folding, initializer deduplication and the fusions; finally shape inference and
/// validation again so the result is sorted, checked and fully typed.
public enum Pipeline {
    public struct Options: Sendable {
        public var foldConstants = true
        public var fuse = true
        public var shapeInference = ShapeInference.Options()
        public var folding = ConstantFolding.Options()
        /// Sweeps before giving up on reaching a fixed point.
        public var maxIterations = 8
        public init(foldConstants: Bool = true, fuse: Bool = true, shapeInference: ShapeInference.Options = .init(),
                    folding: ConstantFolding.Options = .init(), maxIterations: Int = 8) {
            self.foldConstants = foldConstants; self.fuse = fuse; self.shapeInference = shapeInference
            self.folding = folding; self.maxIterations = maxIterations
        }
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var graph: String
        public var nodesBefore: Int
        public var nodesAfter: Int
        public var initializersBefore: Int
        public var initializersAfter: Int
        public var opsBefore: [String: Int]
        public var opsAfter: [String: Int]
        public var iterations: Int
        /// Every pass run, in order.
        public var passes: [PassStats]
        /// Values whose shape could not be inferred in the final sweep.
        public var unknownShapes: [String]
        /// Symbol -> probe values used by shape inference.
        public var probes: [String: [Int]]

        public var description: String {
            var lines = ["graph '\(graph)': \(nodesBefore) -> \(nodesAfter) nodes, \(initializersBefore) -> \(initializersAfter) initializers, \(iterations) sweeps"]
            for (op, n) in opsAfter.sorted(by: { $0.key < $1.key }) { lines.append("  \(op): \(opsBefore[op] ?? 0) -> \(n)") }
            for (op, n) in opsBefore.sorted(by: { $0.key < $1.key }) where opsAfter[op] == nil { lines.append("  \(op): \(n) -> 0") }
            if !unknownShapes.isEmpty { lines.append("  \(unknownShapes.count) values without an inferred shape") }
            return lines.joined(separator: "\n")
        }
    }

    public static func optimize(_ g: inout Graph, options: Options = Options()) throws -> Report {
        let nodesBefore = g.nodes.count, initializersBefore = g.initializers.count
        let opsBefore = histogram(g)
        var passes: [PassStats] = []
        passes.append(try TopologicalSort.run(&g))

        var iterations = 0
        var lastShapes: ShapeInference.Result?
        while iterations < options.maxIterations {
            iterations += 1
            let fingerprint = (g.nodes.count, g.initializers.count, histogram(g))
            passes.append(IdentityRemoval.run(&g))
            passes.append(DeadCodeElimination.run(&g))
            let shapes = try ShapeInference.run(&g, options: options.shapeInference)
            passes.append(shapes.stats)
            lastShapes = shapes
            if options.foldConstants {
                passes.append(try ConstantFolding.run(&g, knownValues: shapes.invariantValues, options: options.folding))
                passes.append(DeadCodeElimination.run(&g))
            }
            passes.append(InitializerDeduplication.run(&g))
            if options.fuse {
                passes.append(LinearFusion.run(&g))
                passes.append(LayerNormFusion.run(&g))
                passes.append(GeluFusion.run(&g))
                passes.append(QuickGeluFusion.run(&g))
                passes.append(try ConvBatchNormFusion.run(&g))
                passes.append(ActivationFusion.run(&g))
                passes.append(PointwiseConvBeforeResize.run(&g))
                // Two 1x1 convs the move above left adjacent (DPT's out_conv, LSeg's head1) become one.
                passes.append(PointwiseConvFolding.run(&g))
                // After the move above: a 1x1 conv that would take an Add's residual must first
                // move before its Resize (DPT's out_conv, then the next block's skip Add).
                passes.append(ConvResidualFusion.run(&g))
                passes.append(NormalizedProjectionFusion.run(&g))
                passes.append(AttentionFusion.run(&g))
            }
            passes.append(DeadCodeElimination.run(&g))
            if fingerprint == (g.nodes.count, g.initializers.count, histogram(g)) { break }
        }

        // The last sweep changed nothing structural, but fusions may have introduced values.
        let shapes = try ShapeInference.run(&g, options: options.shapeInference)
        passes.append(shapes.stats)
        lastShapes = shapes
        passes.append(try TopologicalSort.run(&g))
        return Report(graph: g.name, nodesBefore: nodesBefore, nodesAfter: g.nodes.count,
                      initializersBefore: initializersBefore, initializersAfter: g.initializers.count,
                      opsBefore: opsBefore, opsAfter: histogram(g), iterations: iterations, passes: passes,
                      unknownShapes: lastShapes?.unknownValues ?? [], probes: lastShapes?.probes ?? [:])
    }

    /// Optimizes every graph of a model, in order; one report per graph.
    public static func optimize(_ model: inout Model, options: Options = Options()) throws -> [Report] {
        var reports: [Report] = []
        for i in model.graphs.indices { reports.append(try optimize(&model.graphs[i], options: options)) }
        return reports
    }

    private static func histogram(_ g: Graph) -> [String: Int] {
        var h: [String: Int] = [:]
        for n in g.nodes { h[n.op.typeName, default: 0] += 1 }
        return h
    }
}
