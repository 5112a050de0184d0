import Runtime

/// The ops `--ops` lists: (op name, note). For now the runtime's op names, one per `Op` case;
/// the Convert module's import table (ONNX op type -> opset range) replaces this when it lands.
func supportedOpsTable() -> [(op: String, note: String)] {
    let conv = ConvAttrs()
    let pool = PoolAttrs(kernelShape: [1])
    let reduce = ReduceAttrs()
    var ops: [Op] = [
        .add, .sub, .mul, .div, .pow, .mod(fmod: false), .equal, .less, .greater, .lessOrEqual, .greaterOrEqual,
        .and, .or, .xor, .max, .min, .where,
        .sqrt, .erf, .sigmoid, .relu, .tanh, .exp, .log, .neg, .abs, .reciprocal, .not, .floor, .ceil, .sin, .cos,
        .leakyRelu(alpha: 0.01), .gelu(tanh: false), .quickGelu, .clip, .cast(to: .float32), .identity,
        .matMul, .gemm(GemmAttrs()), .linear(LinearAttrs()), .conv(conv), .convTranspose(ConvTransposeAttrs(conv: conv)),
        .batchNorm(epsilon: 1e-5), .layerNorm(axis: -1, epsilon: 1e-5), .softmax(axis: -1),
        .resize(ResizeAttrs()), .maxPool(pool), .averagePool(pool), .pad(mode: .constant),
        .argMax(axis: 0, keepDims: true, selectLastIndex: false),
        .transpose(perm: nil), .reshape(allowZero: false), .flatten(axis: 1), .concat(axis: 0), .slice,
        .split(axis: 0, numOutputs: nil), .gather(axis: 0), .gatherND(batchDims: 0), .expand, .unsqueeze, .squeeze,
        .range, .constantOfShape(dtype: .float32, value: 0), .shape(start: 0, end: nil),
        .quantizeLinear(axis: 1), .dequantizeLinear(axis: 1),
    ]
    ops += ReduceKind.allCases.map { .reduce($0, reduce) }
    return ops.map { (op: $0.typeName, note: "") }.sorted { $0.op < $1.op }
}
