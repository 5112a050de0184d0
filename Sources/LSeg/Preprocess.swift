import Runtime

/// The image tower's input: the photo resized with Pillow's BILINEAR filter (see
/// `RGBImage.resized`) to `height` x `width`, then torchvision's ToTensor + Normalize,
/// (x / 255 - mean) / std per channel in float32, laid out NCHW as [1, 3, height, width].
public func preprocess(_ image: RGBImage, height: Int, width: Int, mean: [Float], std: [Float]) throws -> [Float] {
    guard height > 0, width > 0 else { throw LSegError.badArgument("preprocess: input size \(height)x\(width) is not positive") }
    guard image.width > 0, image.height > 0 else { throw LSegError.badArgument("preprocess: the image is empty") }
    guard mean.count == 3, std.count == 3 else {
        throw LSegError.badArgument("preprocess: mean and std need 3 values each, got \(mean.count) and \(std.count)")
    }
    guard std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy({ $0.isFinite }) else {
        throw LSegError.badArgument("preprocess: std \(std) / mean \(mean) must be finite and std non-zero")
    }
    let resized = image.width == width && image.height == height ? image : image.resized(width: width, height: height)
    let plane = height * width
    var out = [Float](repeating: 0, count: 3 * plane)
    resized.pixels.withUnsafeBufferPointer { px in
        for c in 0..<3 {
            let m = mean[c], s = std[c]
            for i in 0..<plane { out[c * plane + i] = (Float(px[i * 3 + c]) / 255 - m) / s }
        }
    }
    return out
}

/// `preprocess` as a float32 tensor of shape [1, 3, height, width].
public func preprocessTensor(_ image: RGBImage, height: Int, width: Int, mean: [Float], std: [Float]) throws -> Tensor {
    Tensor.float32(try preprocess(image, height: height, width: width, mean: mean, std: std), shape: [1, 3, height, width])
}

/// Source taps for bilinear resizing with half-pixel centres and align_corners=False, as
/// PyTorch's F.interpolate(mode="bilinear") computes them: src = (dst + 0.5) * in / out - 0.5,
/// clamped at 0; no antialiasing.
struct LinearTaps {
    let lower: [Int]
    let upper: [Int]
    let fraction: [Float]

    init(inSize: Int, outSize: Int) {
        let scale = Float(inSize) / Float(outSize)
        var lower: [Int] = [], upper: [Int] = [], fraction: [Float] = []
        for o in 0..<outSize {
            let src = max((Float(o) + 0.5) * scale - 0.5, 0)
            let l = min(Int(src), inSize - 1)
            lower.append(l)
            upper.append(min(l + 1, inSize - 1))
            fraction.append(src - Float(l))
        }
        self.lower = lower
        self.upper = upper
        self.fraction = fraction
    }
}

/// Resizes `count` planes of `height` x `width` floats (C order [count, height, width]) to
/// `outHeight` x `outWidth`, bilinear, align_corners=False (see `LinearTaps`).
public func resizeBilinear(_ planes: [Float], count: Int, height: Int, width: Int,
                           outHeight: Int, outWidth: Int) throws -> [Float] {
    guard count >= 0, height > 0, width > 0, outHeight > 0, outWidth > 0,
          let n = Tensor.checkedElementCount([count, height, width]), n == planes.count,
          Tensor.checkedElementCount([count, outHeight, outWidth]) != nil else {
        throw LSegError.badArgument("resizeBilinear: \(planes.count) values for [\(count), \(height), \(width)] -> \(outHeight)x\(outWidth)")
    }
    let ty = LinearTaps(inSize: height, outSize: outHeight), tx = LinearTaps(inSize: width, outSize: outWidth)
    var out = [Float](repeating: 0, count: count * outHeight * outWidth)
    planes.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for p in 0..<count {
                let base = p * height * width, outBase = p * outHeight * outWidth
                for y in 0..<outHeight {
                    let r0 = base + ty.lower[y] * width, r1 = base + ty.upper[y] * width, fy = ty.fraction[y]
                    for x in 0..<outWidth {
                        let x0 = tx.lower[x], x1 = tx.upper[x], fx = tx.fraction[x]
                        let top = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * fx
                        let bottom = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * fx
                        dst[outBase + y * outWidth + x] = top + (bottom - top) * fy
                    }
                }
            }
        }
    }
    return out
}

/// Per pixel, the index of the largest of `count` planes ([count, height, width]); the first
/// one wins ties and a NaN counts as the largest, as torch.argmax and numpy.argmax do.
public func argmaxLabels(_ scores: [Float], count: Int, height: Int, width: Int) throws -> [Int32] {
    guard count > 0, height >= 0, width >= 0, let n = Tensor.checkedElementCount([count, height, width]), n == scores.count else {
        throw LSegError.badArgument("argmaxLabels: \(scores.count) values for [\(count), \(height), \(width)]")
    }
    let plane = height * width
    var labels = [Int32](repeating: 0, count: plane)
    scores.withUnsafeBufferPointer { s in
        for i in 0..<plane {
            var best = s[i]
            var label: Int32 = 0
            if !best.isNaN {
                for c in 1..<count {
                    let v = s[c * plane + i]
                    if v.isNaN { label = Int32(c); break }
                    if v > best { best = v; label = Int32(c) }
                }
            }
            labels[i] = label
        }
    }
    return labels
}

/// The label map at the photo's size from low-resolution logits [count, height, width]:
/// bilinear (align_corners=False) to `outHeight` x `outWidth`, then argmax per pixel.
public func labelMap(logits: [Float], count: Int, height: Int, width: Int, outHeight: Int, outWidth: Int) throws -> [Int32] {
    let resized = try resizeBilinear(logits, count: count, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
    return try argmaxLabels(resized, count: count, height: outHeight, width: outWidth)
}
