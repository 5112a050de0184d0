/// The segmentation shown over the photo: each pixel blended with its label's palette colour,
/// and a legend panel (swatch + name per label) added on the right so it never hides the photo.
public func overlay(_ image: RGBImage, labelMap: [Int32], labels: [String], alpha: Float = 0.5,
                    legend: Bool = true) throws -> RGBImage {
    guard labelMap.count == image.width * image.height else {
        throw LSegError.badArgument("overlay: label map has \(labelMap.count) entries for a \(image.width)x\(image.height) image")
    }
    guard alpha.isFinite, (0...1).contains(alpha) else { throw LSegError.badArgument("overlay: alpha \(alpha) is not in 0...1") }
    if let bad = labelMap.first(where: { $0 < 0 || Int($0) >= max(labels.count, 1) }) {
        throw LSegError.badArgument("overlay: label \(bad) is outside the \(labels.count) labels given")
    }
    var blended = image
    let keep = 1 - alpha
    for i in 0..<labelMap.count {
        let c = Palette.colour(Int(labelMap[i]))
        let p = i * 3
        blended.pixels[p] = UInt8((Float(image.pixels[p]) * keep + Float(c.0) * alpha).rounded())
        blended.pixels[p + 1] = UInt8((Float(image.pixels[p + 1]) * keep + Float(c.1) * alpha).rounded())
        blended.pixels[p + 2] = UInt8((Float(image.pixels[p + 2]) * keep + Float(c.2) * alpha).rounded())
    }
    guard legend, !labels.isEmpty else { return blended }
    return LegendLayout(labels: labels, imageHeight: image.height).attach(to: blended)
}

/// Where the legend's parts go: font scale from the image height, one row per label.
struct LegendLayout {
    static let background: (UInt8, UInt8, UInt8) = (32, 32, 32)
    static let text: (UInt8, UInt8, UInt8) = (255, 255, 255)
    static let maxNameLength = 40

    let names: [String]
    let scale: Int
    let padding: Int
    let swatch: Int
    let rowHeight: Int
    let width: Int
    let height: Int

    init(labels: [String], imageHeight: Int) {
        names = labels.map { $0.count > Self.maxNameLength ? String($0.prefix(Self.maxNameLength - 3)) + "..." : $0 }
        let scale = max(1, min(4, imageHeight / 240))
        self.scale = scale
        padding = 6 * scale
        swatch = 9 * scale
        rowHeight = 12 * scale
        let textWidth = names.map { BitmapFont.width(of: $0, scale: scale) }.max() ?? 0
        width = padding + swatch + padding + textWidth + padding
        height = padding * 2 + names.count * rowHeight
    }

    /// Top-left corner of label `index`'s swatch, relative to the panel.
    func swatchOrigin(_ index: Int) -> (x: Int, y: Int) { (padding, padding + index * rowHeight) }

    func attach(to image: RGBImage) -> RGBImage {
        let outHeight = max(image.height, height)
        var out = RGBImage(width: image.width + width, height: outHeight, fill: Self.background)
        for y in 0..<image.height {
            let src = y * image.width * 3, dst = y * out.width * 3
            out.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
        }
        for (i, name) in names.enumerated() {
            let (sx, sy) = swatchOrigin(i)
            let c = Palette.colour(i)
            for y in sy..<(sy + swatch) where y < outHeight {
                for x in sx..<(sx + swatch) { out[image.width + x, y] = c }
            }
            let textY = sy + (swatch - BitmapFont.glyphHeight * scale) / 2
            BitmapFont.draw(name, into: &out, x: image.width + sx + swatch + padding, y: textY, scale: scale, colour: Self.text)
        }
        return out
    }
}
