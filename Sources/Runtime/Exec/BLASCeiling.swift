import COpenBLAS

/// The machine's fp32 ceiling as benchmarks report it: OpenBLAS sgemm on square matrices.
public enum BLASCeiling {
    /// Best GFLOP/s of `repeats` n x n x n sgemm calls on `threads` threads.
    public static func sgemmGFLOPS(n: Int = 1536, threads: Int, repeats: Int = 5) -> Double {
        // OpenBLAS's own threading here (the ceiling as its users see it); back to one thread
        // after, as GemmKernels runs it.
        GemmKernels.useThreads(threads)
        defer { GemmKernels.useThreads(1) }
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = ResourceUsage.now()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
            best = min(best, ResourceUsage.now() - t0)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}
