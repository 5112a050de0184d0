import Convert
import Foundation
import LSeg
import Runtime
import TestSupport

/// The trained tiny LSeg model (golden/models/trained), converted once per test process and
/// written as an ordinary pack and as a pack with `labels` baked in.
enum EdgeFixtures {
    static let golden = repositoryRoot.appendingPathComponent("golden")
    static let labels = ["red triangle", "green circle", "blue triangle", "background"]
    static let scenes = ["scene_000", "scene_001", "scene_002", "scene_003"]

    struct Packs {
        let folder: URL
        let plain: URL
        let baked: URL
        let model: Model
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Packs?

    static func packs() throws -> Packs {
        lock.lock(); defer { lock.unlock() }
        if let made { return made }
        var options = Conversion.Options()
        let gz = try [UInt8](Data(contentsOf: golden.appendingPathComponent("vocab/bpe_simple_vocab_16e6.txt.gz")))
        options.vocabulary = try Inflate.gunzip(gz)
        options.inputSize = (128, 128)
        let model = try Conversion.convert(golden.appendingPathComponent("models/trained/lseg.onnx"), options: options).model
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-edge-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let plain = folder.appendingPathComponent("trained.pack"), baked = folder.appendingPathComponent("trained-baked.pack")
        try Pack.write(model, to: plain.path)
        try Pack.write(try LabelBaking.bake(model, labels: labels, threads: 2), to: baked.path)
        let p = Packs(folder: folder, plain: plain, baked: baked, model: model)
        made = p
        return p
    }

    static func scene(_ name: String) throws -> RGBImage {
        try ImageIO.read(path: golden.appendingPathComponent("scenes/\(name).png").path)
    }
}
