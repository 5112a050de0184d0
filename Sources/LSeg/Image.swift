/// An 8-bit RGB image, row-major, 3 bytes a pixel, no padding.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    /// `pixels.count` must be width * height * 3.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: p.count, by: 3) { p[i] = fill.0; p[i + 1] = fill.1; p[i + 2] = fill.2 }
        self.init(width: width, height: height, pixels: p)
    }

    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get { let i = (y * width + x) * 3; return (pixels[i], pixels[i + 1], pixels[i + 2]) }
        set { let i = (y * width + x) * 3; pixels[i] = newValue.0; pixels[i + 1] = newValue.1; pixels[i + 2] = newValue.2 }
    }

    /// Resized with Pillow's BILINEAR filter, so preprocessing matches the PIL pipeline LSeg was
    /// trained with: a triangle filter on half-pixel centres whose support widens by the scale
    /// when shrinking (antialiased), separable (horizontal pass, then vertical), 22-bit
    /// fixed-point weights and rounding to 8 bits after each pass. Bit-exact with Pillow up to
    /// 12.x; Pillow 13 runs the vertical pass first for some shapes (a few pixels differ by 1).
    public func resized(width outWidth: Int, height outHeight: Int) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0, "resize to \(outWidth)x\(outHeight)")
        guard width > 0, height > 0 else { return RGBImage(width: outWidth, height: outHeight) }
        var current = self
        if outWidth != width {
            let k = PillowBilinearWeights(inSize: width, outSize: outWidth)
            var out = [UInt8](repeating: 0, count: outWidth * height * 3)
            for y in 0..<height {
                let rowIn = y * width * 3, rowOut = y * outWidth * 3
                for x in 0..<outWidth {
                    let first = k.first[x], weights = k.weights[x]
                    for c in 0..<3 {
                        var sum = k.rounding
                        for (t, w) in weights.enumerated() { sum += Int64(current.pixels[rowIn + (first + t) * 3 + c]) * w }
                        out[rowOut + x * 3 + c] = PillowBilinearWeights.clip8(sum)
                    }
                }
            }
            current = RGBImage(width: outWidth, height: height, pixels: out)
        }
        if outHeight != height {
            let k = PillowBilinearWeights(inSize: height, outSize: outHeight)
            var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
            let stride = outWidth * 3
            for y in 0..<outHeight {
                let first = k.first[y], weights = k.weights[y]
                for i in 0..<stride {
                    var sum = k.rounding
                    for (t, w) in weights.enumerated() { sum += Int64(current.pixels[(first + t) * stride + i]) * w }
                    out[y * stride + i] = PillowBilinearWeights.clip8(sum)
                }
            }
            current = RGBImage(width: outWidth, height: outHeight, pixels: out)
        }
        return current
    }
}

/// Per output pixel: the first input pixel and the fixed-point weights of the taps from it.
struct PillowBilinearWeights {
    static let precisionBits = 22
    let first: [Int]
    let weights: [[Int64]]
    let rounding = Int64(1) << Int64(precisionBits - 1)

    init(inSize: Int, outSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale  // the triangle filter reaches 1 input pixel, widened when shrinking
        var first: [Int] = [], weights: [[Int64]] = []
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let reciprocal = 1.0 / filterScale  // multiplied, not divided: Pillow's rounding depends on it
            let lo = max(Int(center - support + 0.5), 0)  // Int() truncates toward zero, as C does
            let hi = min(Int(center + support + 0.5), inSize)
            var k: [Double] = []
            var total = 0.0
            for x in lo..<max(hi, lo) {
                let d = abs((Double(x) - center + 0.5) * reciprocal)
                let w = d < 1 ? 1 - d : 0
                k.append(w)
                total += w
            }
            if total != 0 { k = k.map { $0 / total } }
            let one = Double(1 << Self.precisionBits)
            weights.append(k.map { $0 < 0 ? Int64((-0.5 + $0 * one).rounded(.towardZero)) : Int64((0.5 + $0 * one).rounded(.towardZero)) })
            first.append(lo)
        }
        self.first = first
        self.weights = weights
    }

    static func clip8(_ sum: Int64) -> UInt8 {
        let v = sum >> Int64(precisionBits)
        return UInt8(clamping: v)
    }
}
