import COnnx
import Foundation
import Runtime

/// What importing an ONNX file gives: our IR graph plus what the pack's metadata records.
public struct ImportedModel: Sendable {
    /// The graph, named "main" (role detection renames or splits it: see `Roles`).
    public var graph: Graph
    public var irVersion: Int
    /// Opset version per domain; the default ONNX domain is "" (an "ai.onnx" import is stored as "").
    public var opsets: [String: Int]
    public var producerName: String
    public var producerVersion: String
    /// The GraphProto's own name.
    public var onnxGraphName: String
    public var metadataProps: [String: String]
    /// The model file first, then each external-data file in first-use order: name (relative
    /// to the model's folder), SHA-256 (lowercase hex) and size in bytes.
    public var sources: [SourceFile]
}

/// ONNX import: decodes the file with libprotobuf-c and maps it to our IR.
public enum ONNXImporter {
    /// Imports the model at `url`. External data is read from files beside it. Throws
    /// `ConvertError` for anything malformed, unsafe or unsupported (never traps on bad input).
    /// - Parameter hashSources: compute the SHA-256 of every source file (on a second thread,
    ///   while the weights are decoded).
    public static func load(_ url: URL, hashSources: Bool = true) throws -> ImportedModel {
        let name = url.lastPathComponent
        let mapped = try MappedFile(url)
        let hashes = SourceHasher()
        if hashSources { hashes.start(name, mapped) }
        defer { hashes.wait() }

        let decoded = try PhaseTiming.measure("onnx unpack (protobuf-c)") { try ONNXModelFile(mapped: mapped) }
        defer { withExtendedLifetime(decoded) {} }  // the message tree lives as long as `decoded`
        let model = decoded.model
        let m = model.pointee

        guard m.has_ir_version != 0, m.ir_version >= 3 else {
            throw ConvertError.badModel(file: name, what: m.has_ir_version != 0 ? "IR version \(m.ir_version) is too old (need 3 or later)" : "no ir_version: not an ONNX model")
        }
        var opsets: [String: Int] = [:]
        for o in cMessages(m.opset_import, m.n_opset_import) {
            let domain = GraphImporter.normalizedDomain(cString(o.pointee.domain))
            guard o.pointee.has_version != 0, o.pointee.version > 0, o.pointee.version < 10_000 else {
                throw ConvertError.badModel(file: name, what: "opset import for domain '\(domain)' has no valid version")
            }
            guard opsets[domain] == nil else { throw ConvertError.badModel(file: name, what: "domain '\(domain)' is imported twice") }
            opsets[domain] = Int(o.pointee.version)
        }
        guard let defaultOpset = opsets[""] else { throw ConvertError.badModel(file: name, what: "no opset import for the default ONNX domain") }
        guard OpTable.supportedOpsets.contains(defaultOpset) else {
            throw ConvertError.badModel(file: name, what: "opset \(defaultOpset) is not supported (supported: \(OpTable.supportedOpsets.lowerBound) to \(OpTable.supportedOpsets.upperBound)); re-export with a supported opset")
        }
        guard let g = m.graph else { throw ConvertError.badModel(file: name, what: "the model has no graph") }

        let resolver = try ExternalDataResolver(modelURL: url)
        if hashSources {
            // Map the external files up front so they are hashed while the weights are copied.
            for t in cMessages(g.pointee.initializer, g.pointee.n_initializer)
            where t.pointee.has_data_location != 0 && t.pointee.data_location == 1 {
                for (k, v) in cStringEntries(t.pointee.external_data, t.pointee.n_external_data) where k == "location" {
                    _ = try? resolver.file(location: v, tensor: cString(t.pointee.name))
                }
            }
            for (location, file) in resolver.usedFiles { hashes.start(location, file) }
        }
        let importer = GraphImporter(file: name, tensors: decoded.tensorDecoder(external: resolver), opsets: opsets)
        let graph = try PhaseTiming.measure("onnx to IR") { try importer.importGraph(g, name: "main") }

        var sources = [SourceFile(name: name, sha256: "", bytes: mapped.byteCount)]
        for (location, file) in resolver.usedFiles { sources.append(SourceFile(name: location, sha256: "", bytes: file.byteCount)) }
        if hashSources {
            PhaseTiming.measure("wait for SHA-256") { hashes.wait() }
            let digests = hashes.results
            for i in sources.indices { sources[i].sha256 = digests[sources[i].name] ?? "" }
            // A file first mapped during import (not found by the pre-scan) is hashed now.
            for i in sources.indices where sources[i].sha256.isEmpty {
                let file = i == 0 ? mapped : resolver.usedFiles.first { $0.location == sources[i].name }!.file
                sources[i].sha256 = SHA256.hex(file.bytes)
            }
        }
        var props: [String: String] = [:]
        for (k, v) in cStringEntries(m.metadata_props, m.n_metadata_props) { props[k] = v }
        return ImportedModel(graph: graph, irVersion: Int(m.ir_version), opsets: opsets,
                             producerName: cString(m.producer_name), producerVersion: cString(m.producer_version),
                             onnxGraphName: cString(g.pointee.name), metadataProps: props, sources: sources)
    }
}

/// Hashes source files on background threads while the import runs.
final class SourceHasher: @unchecked Sendable {
    private let lock = NSLock()
    private var digests: [String: String] = [:]
    private let group = DispatchGroup()

    func start(_ name: String, _ file: MappedFile) {
        DispatchQueue.global().async(group: group) { [self] in
            let digest = PhaseTiming.measure("SHA-256 \(name) (background)") { Self.hash(file) }
            lock.lock(); digests[name] = digest; lock.unlock()
        }
    }

    func wait() { group.wait() }

    /// Hashes in chunks and drops each chunk's pages once hashed: the import reads the same
    /// pages (faulting them back from the page cache if needed), and resident memory stays
    /// near one copy of the weights. Hashing ends before any pass could write to the mapping.
    static func hash(_ file: MappedFile) -> String {
        let chunk = 32 << 20
        var s = SHA256()
        var at = 0
        let all = file.bytes
        while at < all.count {
            let n = min(chunk, all.count - at)
            s.update(UnsafeRawBufferPointer(rebasing: all[at..<at + n]))
            file.release(at..<at + n)
            at += n
        }
        return s.finalizeHex()
    }

    var results: [String: String] {
        lock.lock(); defer { lock.unlock() }
        return digests
    }
}
