import Foundation
import XCTest
import Runtime

/// The pthread pool behind parallelFor (in place of Dispatch's concurrentPerform).
final class WorkerPoolTests: XCTestCase {
    func testEveryIterationRunsExactlyOnce() {
        let pool = WorkerPool(workers: 3)
        for n in [1, 2, 3, 7, 64, 1000] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
            counts.initialize(repeating: 0)
            defer { counts.deallocate() }
            nonisolated(unsafe) let slots = counts
            for _ in 0..<20 { pool.perform(iterations: n) { i in slots[i] += 1 } }
            XCTAssertEqual(Set(counts), [20], "n = \(n)")
        }
    }

    func testNestedAndConcurrentCallsComplete() {
        let pool = WorkerPool(workers: 2)
        let lock = NSLock()
        nonisolated(unsafe) var total = 0
        // Several threads submit at once, each loop iteration submits a nested loop: the pool
        // serves one, the others run on their own threads; none may deadlock or lose an iteration.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<50 {
                pool.perform(iterations: 5) { _ in
                    pool.perform(iterations: 3) { _ in lock.lock(); total += 1; lock.unlock() }
                }
            }
        }
        XCTAssertEqual(total, 4 * 50 * 5 * 3)
    }

    func testParallelForCoversTheRangeOnce() {
        let ctx = ExecContext(threads: 4)
        let n = 100_000
        let hits = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: n)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        nonisolated(unsafe) let slots = hits
        ctx.parallelFor(n) { r in for i in r { slots[i] += 1 } }
        XCTAssertTrue(hits.allSatisfy { $0 == 1 })
    }

    func testBalancedLoopsCoverTheRangeOnce() {
        let ctx = ExecContext(threads: 3)
        for n in [1, 5, 12, 100_000] {
            let hits = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: n)
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            nonisolated(unsafe) let slots = hits
            ctx.parallelForBalanced(n, costPerItem: 1 << 20) { r in for i in r { slots[i] += 1 } }
            XCTAssertTrue(hits.allSatisfy { $0 == 1 }, "n = \(n)")
        }
    }

    /// Every item runs once, on a slot below the requested count, and no two items run on one
    /// slot at the same time (each slot's scratch is private to the thread running it).
    func testParallelItemsGiveEachRunningItemItsOwnSlot() {
        let ctx = ExecContext(threads: 4)
        let n = 2_000
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        hits.initialize(repeating: 0)
        let busy = UnsafeMutableBufferPointer<Int>.allocate(capacity: 8)
        busy.initialize(repeating: 0)
        defer { hits.deallocate(); busy.deallocate() }
        let lock = NSLock()
        nonisolated(unsafe) let h = hits, b = busy
        nonisolated(unsafe) var badSlot = false, shared = false
        ctx.parallelItems(n, slots: 3, costPerItem: 1 << 20) { slot, item in
            lock.lock()
            if slot < 0 || slot >= 3 { badSlot = true }
            if b[slot] != 0 { shared = true }
            b[slot] = 1
            h[item] += 1
            lock.unlock()
            usleep(10)
            lock.lock(); b[slot] = 0; lock.unlock()
        }
        XCTAssertTrue(hits.allSatisfy { $0 == 1 })
        XCTAssertFalse(badSlot)
        XCTAssertFalse(shared)
    }
}
