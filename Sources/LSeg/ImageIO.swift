import CImageIO
import Glibc
import Runtime

/// Reading and writing image files through libpng and libjpeg-turbo.
///
/// Decoding gives 8-bit RGB whatever the file holds: 16-bit samples keep their high byte, grey
/// is replicated, palettes are expanded and alpha is dropped (not composited), as Pillow's
/// `convert("RGB")` does. CMYK JPEGs are refused. The header's size is checked against
/// `maxPixels` before any pixel memory is allocated.
public enum ImageIO {
    public static let defaultMaxPixels = 100_000_000

    public enum Format: String, Sendable { case png, jpeg }

    /// The format from the first bytes, or nil.
    public static func sniff(_ data: [UInt8]) -> Format? {
        if data.count >= 8 && data[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Decodes PNG or JPEG bytes; `name` is used in error messages.
    public static func decode(_ data: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard let format = sniff(data) else {
            throw LSegError.image(file: name, what: "not a PNG or JPEG file (\(data.count) bytes, unknown signature)")
        }
        var decoded = CImageIODecoded()
        let limit = UInt64(max(maxPixels, 0))
        let status = data.withUnsafeBufferPointer { buffer in
            switch format {
            case .png: return Int(cimageio_png_decode(buffer.baseAddress, buffer.count, limit, &decoded))
            case .jpeg: return Int(cimageio_jpeg_decode(buffer.baseAddress, buffer.count, limit, &decoded))
            }
        }
        defer { cimageio_free(decoded.pixels) }
        let message = withUnsafeBytes(of: decoded.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch Int32(status) {
        case Int32(CIMAGEIO_OK): break
        case Int32(CIMAGEIO_TOO_LARGE): throw LSegError.imageTooLarge(file: name, what: message)
        default: throw LSegError.image(file: name, what: "\(format.rawValue.uppercased()): \(message)")
        }
        let width = Int(decoded.width), height = Int(decoded.height)
        let pixels = [UInt8](UnsafeBufferPointer(start: decoded.pixels, count: width * height * 3))
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Reads and decodes the image file at `path`.
    public static func read(path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard let data = FileIO.contents(atPath: path) else {
            throw LSegError.io(file: path, what: "cannot read file")
        }
        return try decode(data, name: path, maxPixels: maxPixels)
    }

    /// An 8-bit RGB PNG. Same image, same bytes (no timestamps, fixed compression settings).
    public static func encodePNG(_ image: RGBImage, name: String = "image") throws -> [UInt8] {
        try encode(pixels: image.pixels, width: image.width, height: image.height, palette: nil, name: name)
    }

    /// An indexed-colour PNG whose pixel values are the label indices themselves, with `palette`
    /// (RGB triples, one a label) so viewers show it in colour. Every index must be < palette count.
    public static func encodeLabelPNG(labels: [UInt8], width: Int, height: Int, palette: [(UInt8, UInt8, UInt8)],
                                      name: String = "label map") throws -> [UInt8] {
        guard labels.count == width * height else {
            throw LSegError.badArgument("\(name): \(labels.count) labels for \(width)x\(height)")
        }
        guard (1...256).contains(palette.count) else {
            throw LSegError.badArgument("\(name): palette has \(palette.count) colours, PNG allows 1...256")
        }
        if let top = labels.max(), Int(top) >= palette.count {
            throw LSegError.badArgument("\(name): label \(top) has no palette colour (\(palette.count) colours)")
        }
        return try encode(pixels: labels, width: width, height: height,
                          palette: palette.flatMap { [$0.0, $0.1, $0.2] }, name: name)
    }

    private static func encode(pixels: [UInt8], width: Int, height: Int, palette: [UInt8]?, name: String) throws -> [UInt8] {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw LSegError.image(file: name, what: "cannot write a \(width)x\(height) PNG")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBufferPointer { p in
            if let palette {
                return palette.withUnsafeBufferPointer { pal in
                    cimageio_png_encode(p.baseAddress, UInt32(width), UInt32(height), pal.baseAddress, Int32(palette.count / 3),
                                        &out, &size, &message, message.count)
                }
            }
            return cimageio_png_encode(p.baseAddress, UInt32(width), UInt32(height), nil, 0, &out, &size, &message, message.count)
        }
        defer { cimageio_free(out) }
        guard status == Int32(CIMAGEIO_OK), let out else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw LSegError.image(file: name, what: "PNG encoding failed: \(text)")
        }
        return [UInt8](UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes bytes to `path` through a temporary file and a rename, so a reader never sees half a file.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        do {
            try FileIO.write(bytes, toPath: path)
        } catch {
            throw LSegError.io(file: path, what: "cannot write: \(LSegError.systemText(error))")
        }
    }
}
