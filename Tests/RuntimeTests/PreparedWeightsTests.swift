import Foundation
import Testing
@testable import Runtime

@Suite struct PreparedWeightsTests {
    @Test func fillsOncePerWeightAndKind() throws {
        let prepared = PreparedWeights()
        let a = TensorStorage(byteCount: 16), b = TensorStorage(byteCount: 16)
        var fills = 0
        func get(_ w: TensorStorage, _ kind: String) -> UnsafeRawPointer {
            prepared.layout(kind: kind, of: w.pointer, byteCount: 8) { p in
                fills += 1
                p.storeBytes(of: UInt64(fills), as: UInt64.self)
            }
        }
        let p1 = get(a, "x"), p2 = get(a, "x"), p3 = get(b, "x"), p4 = get(a, "y")
        #expect(p1 == p2)
        #expect(p1 != p3 && p1 != p4)
        #expect(fills == 3)
        #expect(p1.load(as: UInt64.self) == 1)
        #expect(prepared.byteCount == 24)
    }

    @Test func concurrentCallersShareOneLayout() throws {
        let prepared = PreparedWeights()
        let w = TensorStorage(byteCount: 64)
        let addresses = UnsafeMutablePointer<UInt>.allocate(capacity: 8)
        defer { addresses.deallocate() }
        nonisolated(unsafe) let out = addresses
        nonisolated(unsafe) let weight = UnsafeRawPointer(w.pointer)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let p = prepared.layout(kind: "k", of: weight, byteCount: 32) { _ in }
            out[i] = UInt(bitPattern: p)
        }
        #expect(Set((0..<8).map { addresses[$0] }).count == 1)
        #expect(prepared.byteCount == 32)
    }
}
