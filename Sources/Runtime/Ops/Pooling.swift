import CKernels

/// MaxPool and AveragePool over N-D spatial axes (2-D in C, other ranks with the reference loop).
enum Pooling {
    /// Shapes after defaults, auto-padding and ceil mode are resolved (reuses Conv's window type).
    static func geometry(_ x: [Int], _ attrs: PoolAttrs, name: String) throws -> Convolution.Geometry {
        guard x.count >= 3 else { throw OpError("\(name) input must be [N, C, spatial...] (got \(x))") }
        let nd = x.count - 2
        guard nd <= Convolution.maxSpatialRank else { throw OpError("\(name) supports up to \(Convolution.maxSpatialRank) spatial axes") }
        guard attrs.kernelShape.count == nd, attrs.kernelShape.allSatisfy({ $0 >= 1 }) else {
            throw OpError("\(name) kernel_shape \(attrs.kernelShape) must be \(nd) positive values for input \(x)")
        }
        let strides = attrs.strides.isEmpty ? Array(repeating: 1, count: nd) : attrs.strides
        let dilations = attrs.dilations.isEmpty ? Array(repeating: 1, count: nd) : attrs.dilations
        let pads = attrs.pads.isEmpty ? Array(repeating: 0, count: 2 * nd) : attrs.pads
        guard strides.count == nd, strides.allSatisfy({ $0 >= 1 }) else { throw OpError("strides \(attrs.strides) must be \(nd) values >= 1") }
        guard dilations.count == nd, dilations.allSatisfy({ $0 >= 1 }) else { throw OpError("dilations \(attrs.dilations) must be \(nd) values >= 1") }
        guard pads.count == 2 * nd, pads.allSatisfy({ $0 >= 0 }) else { throw OpError("pads \(attrs.pads) must be \(2 * nd) values >= 0") }
        var g = Convolution.Geometry()
        g.batch = x[0]; g.inChannels = x[1]; g.outChannels = x[1]
        g.inSpatial = Array(x[2...]); g.kernel = attrs.kernelShape; g.strides = strides; g.dilations = dilations
        for i in 0..<nd {
            // ONNX Runtime's rule: a window must never lie entirely in padding.
            if attrs.autoPad == .notSet, pads[i] >= attrs.kernelShape[i] || pads[nd + i] >= attrs.kernelShape[i] {
                throw OpError("\(name) pad \(Swift.max(pads[i], pads[nd + i])) on spatial axis \(i) must be smaller than the kernel \(attrs.kernelShape[i])")
            }
            let a = try Convolution.forwardAxis(input: g.inSpatial[i], kernel: attrs.kernelShape[i], stride: strides[i],
                                                dilation: dilations[i], padBegin: pads[i], padEnd: pads[nd + i],
                                                autoPad: attrs.autoPad, ceilMode: attrs.ceilMode)
            g.outSpatial.append(a.out); g.padBegin.append(a.padBegin); g.padEnd.append(a.padEnd)
        }
        return g
    }

    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        guard let x = inputs.first ?? nil else { throw OpError("\(op.typeName) needs an input") }
        guard x.dtype == .float32 else { throw OpError("\(op.typeName) supports float32 only (got \(x.dtype))") }
        switch op {
        case .maxPool(let a), .averagePool(let a):
            return [TypedShape(.float32, try geometry(x.shape, a, name: op.typeName).output)]
        default:
            throw OpError("\(op.typeName) is not a pooling op")
        }
    }

    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        guard let x = inputs.first ?? nil, let y = outputs.first else { throw OpError("\(op.typeName) needs an input and an output") }
        let attrs: PoolAttrs, isMax: Bool
        switch op {
        case .maxPool(let a): attrs = a; isMax = true
        case .averagePool(let a): attrs = a; isMax = false
        default: throw OpError("\(op.typeName) is not a pooling op")
        }
        let g = try geometry(x.shape, attrs, name: op.typeName)
        let planes = g.batch * g.inChannels
        let xp = UnsafePointer(x.pointer(Float.self)), yp = y.pointer(Float.self)
        let cost = g.outSize * g.kernelSize
        if g.kernel.count == 2 {
            var window = g.window(transpose: false)
            let padEnd = g.padEnd.map(Int64.init)
            withUnsafePointer(to: &window) { win in
                padEnd.withUnsafeBufferPointer { pe in
                    ctx.parallelFor(planes, costPerItem: cost) { r in
                        if isMax {
                            lseg_max_pool2d(xp, yp, win, Int64(r.lowerBound), Int64(r.upperBound))
                        } else {
                            lseg_average_pool2d(xp, yp, win, pe.baseAddress, attrs.countIncludePad ? 1 : 0,
                                                Int64(r.lowerBound), Int64(r.upperBound))
                        }
                    }
                }
            }
        } else {
            ctx.parallelFor(planes, costPerItem: cost) { r in
                PoolingKernels.referencePool(g, isMax: isMax, countIncludePad: attrs.countIncludePad, x: xp, y: yp, planes: r)
            }
        }
    }
}
