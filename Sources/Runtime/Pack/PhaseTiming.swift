import Glibc

/// Wall-clock time per phase of a conversion or pack write, printed to stderr as
/// `phase <name> <seconds>` when the environment sets LSEG_PHASES=1 (bench/convert does).
/// Costs one clock read per phase otherwise.
public enum PhaseTiming {
    public static let enabled = getenv("LSEG_PHASES").map { String(cString: $0) } == "1"

    @discardableResult
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = SystemClock.nanoseconds()
        defer { report(name(), seconds: Double(SystemClock.nanoseconds() - start) / 1e9) }
        return try body()
    }

    public static func report(_ name: String, seconds: Double) {
        guard enabled else { return }
        let millis = Int((seconds * 1000).rounded())
        let fraction = String(millis % 1000)
        let line = "phase \(name) \(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }  // stderr
    }
}
