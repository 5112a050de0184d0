import LSeg

// Any bytes through the PNG and JPEG decoders, with a small pixel limit so a valid huge header
// is refused quickly instead of decoded (the limit check itself is what is exercised).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? ImageIO.decode(Array(UnsafeBufferPointer(start: data, count: size)), name: "fuzz.img", maxPixels: 4_000_000)
    return 0
}
