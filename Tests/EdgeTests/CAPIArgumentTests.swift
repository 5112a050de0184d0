import Foundation
import LSeg
import LSegC
import Runtime
import TestSupport
import XCTest

/// The C entry points called in-process with bad arguments: each returns its status code and a
/// message, none traps.
final class CAPIArgumentTests: XCTestCase {
    var lastError: String { String(cString: lseg_last_error()) }

    func testOpenValidatesArguments() throws {
        var model: OpaquePointer? = OpaquePointer(bitPattern: 0x10)
        XCTAssertEqual(lseg_open(nil, 0, &model), 1)
        XCTAssertNil(model)
        XCTAssertTrue(lastError.contains("path is NULL"), lastError)
        XCTAssertEqual(lseg_open("/nonexistent/x.pack", 0, nil), 1)
        XCTAssertTrue(lastError.contains("out is NULL"), lastError)
        XCTAssertEqual(lseg_open("/nonexistent/x.pack", -1, &model), 1)
        XCTAssertEqual(lseg_open("/nonexistent/x.pack", 1_000_000, &model), 1)
        XCTAssertTrue(lastError.contains("threads is 1000000"), lastError)
        XCTAssertEqual(lseg_open("/nonexistent/x.pack", 0, &model), 2)
        XCTAssertTrue(lastError.contains("/nonexistent/x.pack"), lastError)
        XCTAssertNil(model)
        lseg_close(nil)
        XCTAssertEqual(lseg_label_count(nil), -1)
        XCTAssertEqual(lseg_has_baked_labels(nil), -1)
        XCTAssertNil(lseg_label_name(nil, 0))
        XCTAssertEqual(String(cString: lseg_version()), LSegKit.version)
    }

    func testSegmentValidatesArguments() throws {
        var model: OpaquePointer?
        XCTAssertEqual(lseg_open(try EdgeFixtures.packs().baked.path, 1, &model), 0, lastError)
        defer { lseg_close(model) }
        XCTAssertEqual(lastError, "")
        XCTAssertEqual(lseg_has_baked_labels(model), 1)
        XCTAssertEqual(lseg_label_count(model), 4)
        XCTAssertEqual(lseg_label_name(model, 3).map { String(cString: $0) }, "background")
        XCTAssertNil(lseg_label_name(model, 4))
        XCTAssertNil(lseg_label_name(model, -1))

        let w: Int32 = 20, h: Int32 = 10
        let rgb = [UInt8](repeating: 128, count: Int(w * h * 3))
        var map = [UInt8](repeating: 255, count: Int(w * h))
        func segment(_ rgb: UnsafePointer<UInt8>?, _ w: Int32, _ h: Int32, _ stride: Int32, _ labels: [String]?, count: Int32? = nil,
                     mapSize: Int? = nil, nullMap: Bool = false) -> Int32 {
            let cLabels = labels?.map { UnsafePointer(strdup($0)) }
            defer { cLabels?.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
            return map.withUnsafeMutableBufferPointer { m in
                cLabels.withUnsafeBufferPointerOrNil { l in
                    lseg_segment(model, rgb, w, h, stride, l, count ?? Int32(labels?.count ?? 0), nullMap ? nil : m.baseAddress, mapSize ?? m.count)
                }
            }
        }
        XCTAssertEqual(segment(nil, w, h, w * 3, nil), 1)
        XCTAssertEqual(segment(rgb, 0, h, w * 3, nil), 1)
        XCTAssertEqual(segment(rgb, w, -5, w * 3, nil), 1)
        XCTAssertEqual(segment(rgb, w, h, w * 3 - 1, nil), 1)
        XCTAssertTrue(lastError.contains("stride"), lastError)
        XCTAssertEqual(segment(rgb, w, h, w * 3, nil, mapSize: Int(w * h) - 1), 1)
        XCTAssertTrue(lastError.contains("label_map holds"), lastError)
        XCTAssertEqual(segment(rgb, w, h, w * 3, nil, nullMap: true), 1)
        XCTAssertEqual(segment(rgb, Int32.max, Int32.max, Int32.max, nil, mapSize: Int.max), 1)
        XCTAssertTrue(lastError.contains("more than"), lastError)
        XCTAssertEqual(segment(rgb, w, h, w * 3, ["a"], count: 0), 1)
        XCTAssertEqual(segment(rgb, w, h, w * 3, ["a"], count: -3), 1)
        XCTAssertEqual(segment(rgb, w, h, w * 3, nil, count: 2), 1)
        XCTAssertEqual(segment(rgb, w, h, w * 3, [""]), 1)
        XCTAssertEqual(segment(rgb, w, h, w * 3, ["road", "car"]), 3)
        XCTAssertTrue(lastError.contains("baked labels"), lastError)
        XCTAssertEqual(map, [UInt8](repeating: 255, count: Int(w * h)), "a failed call leaves the map alone")

        XCTAssertEqual(segment(rgb, w, h, w * 3, nil), 0, lastError)
        XCTAssertTrue(map.allSatisfy { $0 < 4 })
        XCTAssertEqual(segment(rgb, w, h, w * 3, EdgeFixtures.labels), 0, lastError)
    }
}

extension Optional where Wrapped == [UnsafePointer<CChar>?] {
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
