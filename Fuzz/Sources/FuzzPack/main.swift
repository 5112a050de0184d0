import Foundation
import Runtime

// Pack.read maps a file, so each input is written to one file in a private folder first.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-fuzz-pack-\(getpid())")
let file = folder.appendingPathComponent("input.pack")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    guard (try? Data(bytes: data, count: size).write(to: file)) != nil else { return 0 }
    if let info = try? Pack.readDirectory(file.path) { _ = try? Pack.verifyGraphs(info, file: file.path) }
    _ = try? Pack.read(file.path)
    return 0
}

// SwiftPM links an executable with main renamed to <target>_main; with -parse-as-library
// there is no Swift main, so this one hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("FuzzPack_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzz)
}
