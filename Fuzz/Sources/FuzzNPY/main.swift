import LSeg

// Any bytes: NPY.decode returns a tensor or throws; it must never trap or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? NPY.decode(Array(UnsafeBufferPointer(start: data, count: size)), name: "fuzz.npy")
    return 0
}
