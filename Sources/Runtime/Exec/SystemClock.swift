import Glibc

/// What the device build needs from the operating system in place of Foundation's ProcessInfo
/// and Date: processor count and a monotonic clock.
public enum SystemClock {
    /// Nanoseconds of a monotonic clock (unrelated to wall time; for durations only).
    public static func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// Seconds elapsed since `start`, a value of `nanoseconds()`.
    public static func seconds(since start: UInt64) -> Double {
        Double(nanoseconds() &- start) / 1e9
    }
}

public enum ProcessorCount {
    /// Online processors, lowered to a cgroup v2 CPU quota when one is set (a container limited
    /// to 2 CPUs on a 64-core host), as Foundation's ProcessInfo.activeProcessorCount; at least 1.
    public static let active: Int = {
        let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        guard let f = fopen("/sys/fs/cgroup/cpu.max", "r") else { return online }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, Int32(line.count), f) != nil else { return online }
        let fields = String(cString: line).split(separator: " ")
        guard fields.count == 2, let quota = Double(fields[0]),
              let period = Double(fields[1].filter { $0 != "\n" }), quota > 0, period > 0 else { return online }
        return max(1, min(online, Int((quota / period).rounded(.up))))
    }()
}
