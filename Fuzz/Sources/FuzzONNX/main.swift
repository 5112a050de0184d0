import Convert
import Foundation

// ONNXImporter reads a file (and external data beside it), so each input is written to one
// file in a private folder first. Source hashing is off: it only costs time here.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-fuzz-onnx-\(getpid())")
let file = folder.appendingPathComponent("input.onnx")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    guard (try? Data(bytes: data, count: size).write(to: file)) != nil else { return 0 }
    _ = try? ONNXImporter.load(file, hashSources: false)
    return 0
}
