import Foundation

/// Wall-clock time per phase of a conversion or pack write, printed to stderr as
/// `phase <name> <seconds>` when the environment sets LSEG_PHASES=1 (bench/convert does).
/// Costs one clock read per phase otherwise.
public enum PhaseTiming {
    public static let enabled = ProcessInfo.processInfo.environment["LSEG_PHASES"] == "1"

    @discardableResult
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { report(name(), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    public static func report(_ name: String, seconds: Double) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(String(format: "phase %@ %.3f\n", name, seconds).utf8))
    }
}
