import Foundation
import Runtime
import XCTest
@testable import LSeg

final class NPYTests: XCTestCase {
    func testReadsEveryDtypeAndVersion() throws {
        let idx = (0..<24).map { $0 }
        let f4 = try NPY.read(path: FixtureFiles.path("npy-f4.npy"))
        XCTAssertEqual(f4.dtype, .float32)
        XCTAssertEqual(f4.shape, [2, 3, 4])
        XCTAssertEqual(f4.scalars(as: Float.self), idx.map { Float($0) * 0.5 - 3 })
        for v in ["npy-f4-v2.npy", "npy-f4-v3.npy"] {
            XCTAssertTrue(try NPY.read(path: FixtureFiles.path(v)).bitwiseEqual(f4), v)
        }
        let f2 = try NPY.read(path: FixtureFiles.path("npy-f2.npy"))
        XCTAssertEqual(f2.dtype, .float16)
        XCTAssertEqual(f2.scalars(as: UInt16.self).map { Float(Float16(bitPattern: $0)) }, idx.map { Float($0) * 0.25 - 2 })
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-i8.npy")).scalars(as: Int64.self), idx.map { Int64($0) * 1000003 - 7 })
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-i4.npy")).scalars(as: Int32.self), idx.map { Int32($0) * -3 + 5 })
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-u1.npy")).scalars(as: UInt8.self), idx.map { UInt8($0 * 11 % 256) })
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-i1.npy")).scalars(as: Int8.self), idx.map { Int8($0 * 5 - 60) })
        let b1 = try NPY.read(path: FixtureFiles.path("npy-b1.npy"))
        XCTAssertEqual(b1.dtype, .bool)
        XCTAssertEqual(b1.scalars(as: UInt8.self), idx.map { $0 % 3 == 0 ? 1 : 0 })
        let scalar = try NPY.read(path: FixtureFiles.path("npy-scalar.npy"))
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.scalars(as: Float.self), [2.5])
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-empty.npy")).shape, [0, 3])
        XCTAssertEqual(try NPY.read(path: FixtureFiles.path("npy-1d.npy")).scalars(as: Int64.self), [0, 1, 2, 3, 4])
    }

    func testWriterProducesNumpysExactBytes() throws {
        for name in ["npy-f4", "npy-f2", "npy-i8", "npy-i4", "npy-u1", "npy-i1", "npy-b1", "npy-scalar", "npy-empty", "npy-1d"] {
            let original = try FixtureFiles.bytes(name + ".npy")
            let tensor = try NPY.decode(original, name: name)
            XCTAssertEqual(try NPY.encode(tensor), original, name)
        }
    }

    func testRefusesWhatItCannotRead() throws {
        func message(_ name: String) -> String {
            do { _ = try NPY.read(path: FixtureFiles.path(name)); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("npy-fortran.npy").contains("fortran_order"), message("npy-fortran.npy"))
        XCTAssertTrue(message("npy-bigendian.npy").contains("big-endian"), message("npy-bigendian.npy"))
        XCTAssertTrue(message("npy-complex.npy").contains("'<c8' is not supported"), message("npy-complex.npy"))
    }

    func testMalformedHeadersAreErrors() throws {
        let good = try FixtureFiles.bytes("npy-f4.npy")
        func header(_ text: String, major: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
            let h = Array(text.utf8)
            let len: [UInt8] = major == 1 ? [UInt8(h.count & 0xFF), UInt8(h.count >> 8)]
                : [UInt8(h.count & 0xFF), UInt8(h.count >> 8 & 0xFF), 0, 0]
            return [0x93] + Array("NUMPY".utf8) + [major, 0] + len + h + data
        }
        let cases: [([UInt8], String)] = [
            (Array(good[0..<9]), "magic"),
            ([0x93] + Array("NUMPX".utf8) + [1, 0, 0, 0], "magic"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", major: 4), "version 4.0"),
            (Array(good[0..<60]), "runs past the end"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: [0, 0, 0, 0]), "needs 8 data bytes, file has 4"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: [UInt8](repeating: 0, count: 12)), "file has 12"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }"), "overflows"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999999999999999,), }"), "integer overflows"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "non-negative integer"),
            (header("{'descr': '<f4', 'fortran_order': False}"), "keys"),
            (header("{'descr': '<f4', 'fortran_order': 0, 'shape': (), }"), "unexpected '0'"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (3,)}"), "repeated"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) "), "expected '}'"),
            (header("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}"), "expected '}' at character 17"),
            (header("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}"), "expected ':'"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", data: [0, 0, 0, 0]), "text after"),
            (header("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", data: [1, 7]), "not 0 or 1"),
            (header("{'descr': '\u{e9}', 'fortran_order': False, 'shape': (2,), }"), "not text"),
        ]
        for (bytes, expected) in cases {
            XCTAssertThrowsError(try NPY.decode(bytes, name: "bad.npy"), expected) { error in
                XCTAssertTrue("\(error)".hasPrefix("bad.npy: ") && "\(error)".contains(expected), "wanted '\(expected)', got: \(error)")
            }
        }
        // Every truncation of a good file fails cleanly.
        for cut in 0..<good.count { XCTAssertThrowsError(try NPY.decode(Array(good[0..<cut]))) }
    }

    func testRoundTripThroughAFile() throws {
        let t = Tensor.float32((0..<60).map { Float($0) / 7 }, shape: [3, 4, 5])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lseg-npy-\(getpid()).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPY.write(t, to: path)
        XCTAssertTrue(try NPY.read(path: path).bitwiseEqual(t))
        // A header too long for version 1.0 switches to 2.0.
        let wide = Tensor(dtype: .uint8, shape: [Int](repeating: 1, count: 30000))
        let bytes = try NPY.encode(wide)
        XCTAssertEqual(bytes[6], 2)
        XCTAssertEqual(try NPY.decode(bytes).shape, wide.shape)
        XCTAssertThrowsError(try NPY.encode(Tensor(dtype: .uint32, shape: [1])))
    }
}
