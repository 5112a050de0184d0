import XCTest
@testable import Runtime
import TestSupport

/// The non-overlapping ConvTranspose path (kernel == stride: one sgemm and a scatter-copy) against
/// the scalar reference: groups, non-square kernels, batches, fused activation, and workspaces
/// so small that position chunks end mid-row.
final class ConvTransposeKernelTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xC0_7A)

    private func run(_ attrs: ConvTransposeAttrs, _ inputs: [Tensor], workspaceFloats: Int?) throws -> Tensor {
        guard let workspaceFloats else { return try Eval.evaluate(.convTranspose(attrs), inputs, threads: 2)[0] }
        let op = Op.convTranspose(attrs)
        let outType = try op.inferOutputs(inputs.map { ShapeInput($0) }, node: "t")[0]
        let out = Tensor(dtype: outType.dtype, shape: outType.shape)
        let scratch = TensorStorage(byteCount: workspaceFloats * 4)
        let ctx = ExecContext(threads: 2, workspace: scratch.pointer, workspaceBytes: workspaceFloats * 4)
        try op.run(inputs.map { TensorView($0) }, [TensorView(out)], ctx, node: "t")
        return out
    }

    func testNonOverlappingMatchesReference() throws {
        let cases: [([Int], [Int], ConvTransposeAttrs)] = [
            ([1, 12, 3, 4], [12, 5, 4, 4], ConvTransposeAttrs(conv: ConvAttrs(strides: [4, 4]))),
            ([2, 6, 5, 3], [6, 4, 2, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 3], activation: .gelu))),
            ([1, 8, 4, 5], [8, 3, 2, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], group: 2))),
            ([1, 3, 1, 7], [3, 2, 1, 1], ConvTransposeAttrs(conv: ConvAttrs(strides: [1, 1], activation: .relu))),
        ]
        for (xs, ws, attrs) in cases {
            let g = try Convolution.convTransposeGeometry(xs, ws, attrs)
            XCTAssertTrue(ConvTransposeKernels.isNonOverlapping(g), "\(xs) \(ws)")
            let x = Tensor.float32(rng.floats(Tensor.elementCount(xs)), shape: xs)
            let w = Tensor.float32(rng.floats(Tensor.elementCount(ws)), shape: ws)
            let bias = rng.floats(g.outChannels)
            let rows = g.outChannels / g.group * g.kernelSize
            for withBias in [true, false] {
                let expected = ConvolutionKernels.referenceConvTranspose(g, x: x.scalars(), weight: w.scalars(),
                                                                         bias: withBias ? bias : nil, activation: attrs.conv.activation)
                let inputs = withBias ? [x, w, Tensor.float32(bias, shape: [g.outChannels])] : [x, w]
                // nil: the planned workspace (all positions at once); 1, 3 and 7 positions per chunk.
                for floats in [nil, rows, rows * 3, rows * 7] as [Int?] {
                    let y = try run(attrs, inputs, workspaceFloats: floats)
                    XCTAssertEqual(y.shape, g.output)
                    assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "x \(xs) w \(ws) bias \(withBias) workspace \(String(describing: floats))")
                }
            }
        }
    }

    /// Overlapping, padded or output-padded windows keep the col2im path.
    func testOverlappingGeometriesAreNotTaken() throws {
        let cases: [([Int], [Int], ConvTransposeAttrs)] = [
            ([1, 2, 4, 4], [2, 2, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]))),
            ([1, 2, 4, 4], [2, 2, 2, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1]))),
            ([1, 2, 4, 4], [2, 2, 2, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]), outputPadding: [1, 1])),
            ([1, 2, 4, 4], [2, 2, 2, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], dilations: [2, 2]))),
            ([1, 2, 7], [2, 2, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [3]))),
        ]
        for (xs, ws, attrs) in cases {
            XCTAssertFalse(ConvTransposeKernels.isNonOverlapping(try Convolution.convTransposeGeometry(xs, ws, attrs)), "\(xs) \(ws) \(attrs)")
        }
    }
}
