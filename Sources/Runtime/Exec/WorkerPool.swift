import Glibc
import Synchronization

/// Runs the iterations of a parallel loop on a fixed set of pthreads plus the calling thread, in
/// place of Dispatch's concurrentPerform: libdispatch adds about 0.3 MB to the static device
/// binaries, and parallelFor needs only this.
public final class WorkerPool: @unchecked Sendable {
    /// One worker per processor besides the caller's, started on first use.
    public static let shared = WorkerPool(workers: ProcessorCount.active - 1)

    private let workerCount: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workReady = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let workDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Held by the one caller whose loop the workers serve; others run their loop themselves.
    private let submission = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var job: ((Int) -> Void)?
    private var next = 0, total = 0
    private var started = false
    /// Threads taking iterations of the current loop (joined under `mutex`); the last to leave
    /// signals `workDone` under `mutex`. Until it is zero a thread may still hold the loop's closure.
    private let active = Atomic<Int>(0)
    /// Counts posted loops, so an idle worker can poll for the next one before sleeping.
    private let posted = Atomic<Int>(0)
    /// How long an idle thread polls before it sleeps. Kernels post loops back to back, and a
    /// futex sleep and wake-up per loop costs more than many loops take. A clock bound, not a
    /// count of polls: the earlier 20 000 polls ran out so soon on a Zen 4 virtual machine that
    /// workers often slept between loops (vitb32 int8 image graph about 5 % slower; with
    /// `lseg-bench --profile`'s pause after each step, 240 ms instead of 154).
    private static let spinSeconds = 0.0005

    /// Polls `done` until it holds or `spinSeconds` have passed (the caller then sleeps if need be).
    @inline(__always)
    private static func spin(until done: () -> Bool) {
        let deadline = ResourceUsage.now() + spinSeconds
        repeat {
            for _ in 0..<256 where done() { return }
        } while ResourceUsage.now() < deadline
    }

    public init(workers: Int) {
        workerCount = max(0, workers)
        for m in [mutex, submission] { m.initialize(to: pthread_mutex_t()); pthread_mutex_init(m, nil) }
        for c in [workReady, workDone] { c.initialize(to: pthread_cond_t()); pthread_cond_init(c, nil) }
    }

    /// Calls `body(i)` for every i in 0..<iterations, on the workers and the calling thread, and
    /// returns when all are done. Iterations must be independent. A call made while the pool
    /// serves another (another thread's loop, or a nested loop) runs on its own thread.
    public func perform(iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 0 else { return }
        guard iterations > 1, workerCount > 0, pthread_mutex_trylock(submission) == 0 else {
            for i in 0..<iterations { body(i) }
            return
        }
        defer { pthread_mutex_unlock(submission) }
        withoutActuallyEscaping(body) { body in
            pthread_mutex_lock(mutex)
            startWorkersIfNeeded()
            job = body
            next = 0
            total = iterations
            posted.wrappingAdd(1, ordering: .releasing)
            pthread_cond_broadcast(workReady)
            pthread_mutex_unlock(mutex)
            // After the caller's own share no iteration is left to take; wait for those taken.
            runIterations()
            Self.spin { active.load(ordering: .acquiring) == 0 }
            pthread_mutex_lock(mutex)
            while active.load(ordering: .acquiring) > 0 { pthread_cond_wait(workDone, mutex) }
            // The closure must not outlive this call: no worker can take it after this.
            job = nil
            pthread_mutex_unlock(mutex)
        }
    }

    /// Takes and runs iterations until none is left (called without `mutex` held).
    private func runIterations() {
        pthread_mutex_lock(mutex)
        guard job != nil, next < total else { pthread_mutex_unlock(mutex); return }
        active.wrappingAdd(1, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
        drain()
        // drain's reference to the closure is gone now that it has returned.
        if active.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_signal(workDone)
            pthread_mutex_unlock(mutex)
        }
    }

    private func drain() {
        pthread_mutex_lock(mutex)
        while let body = job, next < total {
            let i = next
            next += 1
            pthread_mutex_unlock(mutex)
            body(i)
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop() -> Never {
        var seen = posted.load(ordering: .acquiring)
        while true {
            Self.spin { posted.load(ordering: .acquiring) != seen }
            seen = posted.load(ordering: .acquiring)
            pthread_mutex_lock(mutex)
            while job == nil || next >= total { pthread_cond_wait(workReady, mutex) }
            pthread_mutex_unlock(mutex)
            runIterations()
        }
    }

    /// Called with `mutex` held.
    private func startWorkersIfNeeded() {
        guard !started else { return }
        started = true
        for _ in 0..<workerCount {
            var thread = pthread_t()
            // The pool is never released while its workers run (it is a process-wide singleton).
            let context = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { context in
                Unmanaged<WorkerPool>.fromOpaque(context!).takeUnretainedValue().workerLoop()
            }, context)
            if rc == 0 { pthread_detach(thread) } else { Unmanaged<WorkerPool>.fromOpaque(context).release() }
        }
    }
}
