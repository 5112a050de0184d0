import Foundation

/// Resolves TensorProto external_data entries to bytes in files beside the model. Each file
/// is mapped once; a location that leaves the model's folder (absolute path, `..`, or a
/// symlink pointing outside) is refused, and every offset and length is checked.
final class ExternalDataResolver: @unchecked Sendable {
    let modelName: String
    let folder: URL
    private let realFolder: String
    private var files: [String: MappedFile] = [:]
    /// Locations in the order first used (for the source-file list).
    private(set) var locations: [String] = []

    init(modelURL: URL) throws {
        modelName = modelURL.lastPathComponent
        folder = modelURL.deletingLastPathComponent()
        guard let real = realpath(folder.path, nil) else {
            throw ConvertError.io(file: modelName, what: "cannot resolve the model folder \(folder.path)")
        }
        realFolder = String(cString: real)
        free(real)
    }

    /// The external data of `tensor`: `expected` bytes inside `file`'s mapping.
    func bytes(tensor: String, entries: [(String, String)], expected: Int) throws -> (bytes: UnsafeRawBufferPointer, file: MappedFile) {
        func fail(_ what: String) -> ConvertError { .externalData(file: modelName, tensor: tensor, what: what) }
        var location: String?
        var offset = 0
        var length: Int?
        for (key, value) in entries {
            switch key {
            case "location": location = value
            case "offset":
                guard let v = Self.parseCount(value) else { throw fail("offset '\(value)' is not a non-negative integer") }
                offset = v
            case "length":
                guard let v = Self.parseCount(value) else { throw fail("length '\(value)' is not a non-negative integer") }
                length = v
            default: continue  // checksum and future keys do not change where the bytes are
            }
        }
        guard let location, !location.isEmpty else { throw fail("no location given") }
        if let length, length != expected {
            throw fail("length \(length) bytes does not match its dtype and shape (\(expected) bytes)")
        }
        let file = try self.file(location: location, tensor: tensor)
        let (end, overflow) = offset.addingReportingOverflow(expected)
        guard !overflow, end <= file.byteCount else {
            throw fail("bytes \(offset)..<\(offset &+ expected) lie outside '\(location)' (\(file.byteCount) bytes)")
        }
        return (UnsafeRawBufferPointer(rebasing: file.bytes[offset..<end]), file)
    }

    /// Every file used, mapped, by location.
    var usedFiles: [(location: String, file: MappedFile)] { locations.map { ($0, files[$0]!) } }

    func file(location: String, tensor: String) throws -> MappedFile {
        if let f = files[location] { return f }
        func fail(_ what: String) -> ConvertError { .externalData(file: modelName, tensor: tensor, what: what) }
        guard !location.hasPrefix("/") else { throw fail("location '\(location)' is absolute; it must be relative to the model's folder") }
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.contains(where: { $0 == ".." }), !location.contains("\0") else {
            throw fail("location '\(location)' leaves the model's folder")
        }
        let url = folder.appendingPathComponent(location)
        guard let real = realpath(url.path, nil) else {
            throw fail("cannot open '\(location)': \(String(cString: strerror(errno)))")
        }
        let resolved = String(cString: real)
        free(real)
        let prefix = realFolder.hasSuffix("/") ? realFolder : realFolder + "/"
        guard resolved.hasPrefix(prefix) else {
            throw fail("location '\(location)' resolves to \(resolved), outside the model's folder")
        }
        let f: MappedFile
        do { f = try MappedFile(URL(fileURLWithPath: resolved)) } catch let e as ConvertError {
            throw fail("cannot map '\(location)': \(e)")
        }
        files[location] = f
        locations.append(location)
        return f
    }

    private static func parseCount(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s)
    }
}
