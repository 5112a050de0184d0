import CZstd

/// The pack's checksum: XXH64 with seed 0 (our C implementation in CZstd).
enum PackChecksum {
    static func xxh64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        lseg_xxh64(bytes.baseAddress, bytes.count, 0)
    }

    static func xxh64(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { xxh64($0) }
    }
}
