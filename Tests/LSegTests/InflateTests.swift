import XCTest
@testable import LSeg

final class InflateTests: XCTestCase {
    func testGzipFixturesDecodeToThePayload() throws {
        let payload = try FixtureFiles.bytes("inflate-payload.bin")
        for name in ["inflate-level9.gz", "inflate-stored.gz", "inflate-two-members.gz"] {
            XCTAssertEqual(try Inflate.gunzip(FixtureFiles.bytes(name), name: name), payload, name)
        }
        XCTAssertEqual(try Inflate.gunzip(FixtureFiles.bytes("inflate-empty.gz")), [])
    }

    func testRawDeflateWithFixedAndHuffmanOnlyCodes() throws {
        let payload = try FixtureFiles.bytes("inflate-payload.bin")
        XCTAssertEqual(try Inflate.inflate(FixtureFiles.bytes("inflate-fixed.deflate")), payload)
        XCTAssertEqual(try Inflate.inflate(FixtureFiles.bytes("inflate-huffman-only.deflate")), payload)
    }

    func testCRC32KnownValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }

    func testCorruptGzipIsAnErrorNotACrash() throws {
        let good = try FixtureFiles.bytes("inflate-level9.gz")
        // Every truncation point must fail cleanly.
        for cut in stride(from: 0, to: good.count, by: max(1, good.count / 97)) {
            XCTAssertThrowsError(try Inflate.gunzip(Array(good[0..<cut])), "cut at \(cut)")
        }
        // A flipped bit in the body is caught by the DEFLATE decoder or by the CRC.
        var random = SplitMix(seed: 5)
        for _ in 0..<200 {
            var bad = good
            let i = 10 + Int(random.next() % UInt64(good.count - 18))
            bad[i] ^= UInt8(1 << (random.next() % 8))
            XCTAssertThrowsError(try Inflate.gunzip(bad), "bit flip at \(i)")
        }
        // Garbage after a valid deflate header bit pattern.
        XCTAssertThrowsError(try Inflate.inflate([0x07, 0xFF, 0xFF]))  // block type 3
        XCTAssertThrowsError(try Inflate.gunzip([0x1F, 0x8B, 0x07, 0, 0, 0, 0, 0, 0, 0])) { error in
            XCTAssertTrue("\(error)".contains("not DEFLATE"), "\(error)")
        }
    }

    func testOutputLimitStopsABomb() throws {
        let payload = try FixtureFiles.bytes("inflate-payload.bin")
        XCTAssertThrowsError(try Inflate.gunzip(FixtureFiles.bytes("inflate-level9.gz"), maxOutput: payload.count - 1)) { error in
            XCTAssertTrue("\(error)".contains("exceeds"), "\(error)")
        }
    }
}

/// Tiny deterministic generator for the mutation loop.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
