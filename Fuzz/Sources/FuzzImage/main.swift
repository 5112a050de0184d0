import LSeg

// Any bytes through the PNG and JPEG decoders, with a small pixel limit so a valid huge header
// is refused quickly instead of decoded (the limit check itself is what is exercised).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? ImageIO.decode(Array(UnsafeBufferPointer(start: data, count: size)), name: "fuzz.img", maxPixels: 4_000_000)
    return 0
}

// SwiftPM links an executable with main renamed to <target>_main; with -parse-as-library
// there is no Swift main, so this one hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("FuzzImage_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzz)
}
