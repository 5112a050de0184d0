import XCTest
@testable import Runtime
import TestSupport

final class ConvolutionTests: XCTestCase {
    private var rng = SeededRandom(seed: 0xC0_4F)

    private func random(_ shape: [Int]) -> Tensor { .float32(rng.floats(Tensor.elementCount(shape)), shape: shape) }

    /// Runs with the planned workspace, or with only `workspaceFloats` of scratch to force chunking.
    private func run(_ op: Op, _ inputs: [Tensor?], threads: Int = 2, workspaceFloats: Int? = nil) throws -> Tensor {
        guard let workspaceFloats else { return try Eval.evaluate(op, inputs, threads: threads)[0] }
        let outType = try op.inferOutputs(inputs.map { $0.map(ShapeInput.init) }, node: "t")[0]
        let out = Tensor(dtype: outType.dtype, shape: outType.shape)
        let scratch = TensorStorage(byteCount: workspaceFloats * 4)
        let ctx = ExecContext(threads: threads, workspace: scratch.pointer, workspaceBytes: workspaceFloats * 4)
        try op.run(inputs.map { $0.map(TensorView.init) }, [TensorView(out)], ctx, node: "t")
        return out
    }

    func testConvHandComputed() throws {
        let x = Tensor.float32((1...9).map(Float.init), shape: [1, 1, 3, 3])
        let w = Tensor.float32([1, 1, 1, 1], shape: [1, 1, 2, 2])
        let y = try run(.conv(ConvAttrs()), [x, w, Tensor.float32([0.5], shape: [1])])
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.scalars(as: Float.self), [12.5, 16.5, 24.5, 28.5])
        // Padding 1, stride 2: corners see 4 inputs, e.g. top-left = 1, bottom-right = 5 + 6 + 8 + 9.
        let padded = try run(.conv(ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1])), [x, w])
        XCTAssertEqual(padded.scalars(as: Float.self), [1, 5, 11, 28])
    }

    private struct ConvCase {
        var x: [Int], w: [Int], attrs: ConvAttrs, bias = true
    }

    func testConvAgainstReference() throws {
        let cases: [ConvCase] = [
            ConvCase(x: [1, 3, 7, 6], w: [4, 3, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [2, 4, 9, 5], w: [6, 2, 3, 2], attrs: ConvAttrs(strides: [2, 1], pads: [1, 0, 2, 1], dilations: [2, 1], group: 2)),
            ConvCase(x: [1, 5, 8, 7], w: [5, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 5)),
            ConvCase(x: [2, 5, 9, 10], w: [5, 1, 3, 3], attrs: ConvAttrs(strides: [2, 2], pads: [2, 1, 0, 2], dilations: [2, 2], group: 5), bias: false),
            ConvCase(x: [1, 3, 5, 5], w: [6, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 3)),
            ConvCase(x: [2, 6, 5, 3], w: [4, 6, 1, 1], attrs: ConvAttrs()),
            ConvCase(x: [1, 6, 5, 3], w: [4, 3, 1, 1], attrs: ConvAttrs(group: 2), bias: false),
            ConvCase(x: [1, 6, 7, 5], w: [4, 6, 1, 1], attrs: ConvAttrs(strides: [2, 2])),
            ConvCase(x: [2, 3, 11], w: [2, 3, 4], attrs: ConvAttrs(strides: [3], pads: [2, 1], dilations: [2])),
            ConvCase(x: [1, 2, 4, 5, 3], w: [3, 2, 2, 3, 2], attrs: ConvAttrs(pads: [0, 1, 1, 1, 0, 0])),
            ConvCase(x: [1, 2, 7, 8], w: [3, 2, 3, 3], attrs: ConvAttrs(strides: [2, 2], autoPad: .sameUpper)),
            ConvCase(x: [1, 2, 7, 8], w: [3, 2, 2, 2], attrs: ConvAttrs(strides: [2, 3], autoPad: .sameLower)),
            ConvCase(x: [1, 2, 7, 8], w: [3, 2, 3, 3], attrs: ConvAttrs(strides: [2, 2], pads: [5, 5, 5, 5], autoPad: .valid)),
            ConvCase(x: [1, 1, 1, 1], w: [2, 1, 1, 1], attrs: ConvAttrs()),
            ConvCase(x: [1, 4, 6, 6], w: [8, 4, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], activation: .relu)),
            ConvCase(x: [1, 4, 6, 6], w: [4, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 4, activation: .gelu)),
            ConvCase(x: [1, 4, 6, 6], w: [4, 4, 1, 1], attrs: ConvAttrs(activation: .leakyRelu(alpha: 0.2))),
            // Large enough that parallelFor really splits im2col and the depthwise loop.
            ConvCase(x: [1, 16, 24, 24], w: [8, 16, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1])),
            ConvCase(x: [1, 16, 24, 24], w: [16, 1, 3, 3], attrs: ConvAttrs(pads: [1, 1, 1, 1], group: 16)),
        ]
        for c in cases {
            let x = random(c.x), w = random(c.w)
            let bias = c.bias ? random([c.w[0]]) : nil
            let g = try Convolution.convGeometry(c.x, c.w, c.attrs)
            let expected = ConvolutionKernels.referenceConv(g, x: x.scalars(), weight: w.scalars(), bias: bias?.scalars(), activation: c.attrs.activation)
            for threads in [1, 2] {
                let y = try run(.conv(c.attrs), [x, w, bias], threads: threads)
                XCTAssertEqual(y.shape, g.output)
                assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "x \(c.x) w \(c.w) \(c.attrs)")
            }
        }
    }

    func testConvOutputShapesFollowOnnx() throws {
        func shape(_ x: [Int], _ w: [Int], _ a: ConvAttrs) throws -> [Int] { try Convolution.convGeometry(x, w, a).output }
        XCTAssertEqual(try shape([1, 1, 7, 8], [1, 1, 3, 3], ConvAttrs(strides: [2, 2], autoPad: .sameUpper)), [1, 1, 4, 4])
        XCTAssertEqual(try shape([1, 1, 7, 8], [1, 1, 3, 3], ConvAttrs(strides: [2, 2], autoPad: .valid)), [1, 1, 3, 3])
        XCTAssertEqual(try shape([1, 1, 5, 5], [1, 1, 3, 3], ConvAttrs(pads: [1, 0, 1, 0])), [1, 1, 5, 3])
        let g = try Convolution.convGeometry([1, 1, 4, 4], [1, 1, 2, 2], ConvAttrs(autoPad: .sameLower))
        XCTAssertEqual(g.padBegin, [1, 1]); XCTAssertEqual(g.padEnd, [0, 0])
    }

    func testIm2colChunkingMatchesUnchunked() throws {
        let x = random([1, 3, 9, 7]), w = random([5, 3, 3, 3]), b = random([5])
        let attrs = ConvAttrs(strides: [1, 2], pads: [1, 1, 1, 1])
        let full = try run(.conv(attrs), [x, w, b])
        // K = 27 floats per position: 27 floats = 1 position per chunk, 27*5 = chunks that split rows.
        for floats in [27, 27 * 5, 27 * 11 + 3] {
            let chunked = try run(.conv(attrs), [x, w, b], workspaceFloats: floats)
            assertClose(chunked.scalars(), full.scalars(), rtol: 1e-6, atol: 1e-6, "workspace \(floats) floats")
        }
        XCTAssertThrowsError(try run(.conv(attrs), [x, w, b], workspaceFloats: 26))
    }

    func testWorkspaceIsBounded() {
        // A DPT-like 3x3 256->256 conv at 192x192 would need 340 MB of columns; the plan gets 64 MB.
        let ws = Op.conv(ConvAttrs(pads: [1, 1, 1, 1])).workspaceBytes(
            [TypedShape(.float32, [1, 256, 192, 192]), TypedShape(.float32, [256, 256, 3, 3])], [])
        XCTAssertLessThanOrEqual(ws, Convolution.columnBudgetBytes)
        XCTAssertGreaterThan(ws, 0)
        XCTAssertEqual(Op.conv(ConvAttrs()).workspaceBytes(
            [TypedShape(.float32, [1, 16, 8, 8]), TypedShape(.float32, [8, 16, 1, 1])], []), 0)
    }

    func testConvTransposeHandComputed() throws {
        let x = Tensor.float32([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let w = Tensor.float32([1, 1, 1, 1], shape: [1, 1, 2, 2])
        let y = try run(.convTranspose(ConvTransposeAttrs(conv: ConvAttrs())), [x, w])
        XCTAssertEqual(y.shape, [1, 1, 3, 3])
        XCTAssertEqual(y.scalars(as: Float.self), [1, 3, 2, 4, 10, 6, 3, 7, 4])
        // Kernel 2 stride 2 (DPT reassemble): every input becomes a 2x2 block.
        let up = try run(.convTranspose(ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]))), [x, w])
        XCTAssertEqual(up.scalars(as: Float.self), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    func testConvTransposeAgainstReference() throws {
        let cases: [([Int], [Int], ConvTransposeAttrs)] = [
            ([1, 8, 3, 3], [8, 5, 4, 4], ConvTransposeAttrs(conv: ConvAttrs(strides: [4, 4]))),
            ([2, 6, 4, 5], [6, 3, 2, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]))),
            ([1, 3, 5, 4], [3, 2, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], pads: [1, 1, 1, 1]), outputPadding: [1, 1])),
            ([1, 4, 3, 5], [4, 3, 3, 2], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 1], pads: [0, 1, 2, 0], dilations: [2, 2], group: 2))),
            ([1, 2, 4, 4], [2, 2, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]), outputShape: [8, 9])),
            ([1, 2, 4, 4], [2, 2, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], autoPad: .sameUpper))),
            ([2, 3, 7], [3, 2, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [3], pads: [1, 2], activation: .relu))),
        ]
        for (xs, ws, attrs) in cases {
            let x = random(xs), w = random(ws), bias = random([ws[1] * attrs.conv.group])
            let g = try Convolution.convTransposeGeometry(xs, ws, attrs)
            let expected = ConvolutionKernels.referenceConvTranspose(g, x: x.scalars(), weight: w.scalars(), bias: bias.scalars(), activation: attrs.conv.activation)
            for floats in [nil, g.outChannels / g.group * g.kernelSize * 2] as [Int?] {
                let y = try run(.convTranspose(attrs), [x, w, bias], workspaceFloats: floats)
                XCTAssertEqual(y.shape, g.output)
                assertClose(y.scalars(), expected, rtol: 1e-5, atol: 1e-5, "x \(xs) w \(ws) \(attrs) workspace \(String(describing: floats))")
            }
        }
        let g = try Convolution.convTransposeGeometry([1, 2, 4, 4], [2, 2, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2]), outputShape: [8, 9]))
        XCTAssertEqual(g.outSpatial, [8, 9])
        // Full size is 9x9: one row of padding to remove (at the begin, per ONNX for NOTSET).
        XCTAssertEqual(g.padBegin, [1, 0]); XCTAssertEqual(g.padEnd, [0, 0])
        // ONNX Runtime 1.32 (scripts/heavy-ops-ort-values.py): 9 -> 8 drops the last row for
        // SAME_UPPER and the first for SAME_LOWER.
        let upper = try Convolution.convTransposeGeometry([1, 1, 4, 4], [1, 1, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], autoPad: .sameUpper)))
        XCTAssertEqual(upper.outSpatial, [8, 8]); XCTAssertEqual(upper.padBegin, [0, 0]); XCTAssertEqual(upper.padEnd, [1, 1])
        let lower = try Convolution.convTransposeGeometry([1, 1, 4, 4], [1, 1, 3, 3], ConvTransposeAttrs(conv: ConvAttrs(strides: [2, 2], autoPad: .sameLower)))
        XCTAssertEqual(lower.padBegin, [1, 1]); XCTAssertEqual(lower.padEnd, [0, 0])
    }

    func testErrorsNameTheProblem() {
        func message(_ op: Op, _ inputs: [Tensor?]) -> String {
            do { _ = try Eval.evaluate(op, inputs, node: "c1"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(.conv(ConvAttrs(group: 2)), [random([1, 3, 4, 4]), random([2, 1, 3, 3])]).contains("not divisible by group"))
        XCTAssertTrue(message(.conv(ConvAttrs()), [random([1, 3, 4, 4]), random([2, 2, 3, 3])]).contains("input channels"))
        XCTAssertTrue(message(.conv(ConvAttrs(kernelShape: [2, 2])), [random([1, 3, 4, 4]), random([2, 3, 3, 3])]).contains("kernel_shape"))
        XCTAssertTrue(message(.conv(ConvAttrs()), [random([1, 3, 2, 2]), random([2, 3, 3, 3])]).contains("exceeds padded input"))
        XCTAssertTrue(message(.conv(ConvAttrs()), [random([1, 3, 4, 4]), random([2, 3, 3, 3]), random([3])]).contains("bias"))
        XCTAssertTrue(message(.conv(ConvAttrs(strides: [0, 1])), [random([1, 3, 4, 4]), random([2, 3, 3, 3])]).contains("strides"))
        XCTAssertTrue(message(.convTranspose(ConvTransposeAttrs(conv: ConvAttrs())), [random([1, 3, 4, 4]), random([2, 2, 3, 3])]).contains("input channels"))
    }
}
