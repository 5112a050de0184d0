/// Streaming statistics of one float tensor across calibration runs: finite min/max and two
/// histograms (positive values and magnitudes of negative values), each with a fixed number of
/// bins whose range doubles, merging pairs of bins, when a larger value arrives. Memory does not
/// depend on how many values were seen; non-finite values are counted and otherwise ignored.
public struct RangeHistogram: Sendable, Equatable {
    public static let defaultBins = 2048

    public let binCount: Int
    /// Upper edge of each side's histogram (0 until that side saw a nonzero value).
    public private(set) var positiveRange: Float = 0
    public private(set) var negativeRange: Float = 0
    public private(set) var positive: [UInt64]
    public private(set) var negative: [UInt64]
    /// Zeros are counted in bin 0 of `positive`.
    public private(set) var finiteCount: UInt64 = 0
    public private(set) var nonFiniteCount: UInt64 = 0
    public private(set) var minimum: Float = .infinity
    public private(set) var maximum: Float = -.infinity

    public init(bins: Int = RangeHistogram.defaultBins) {
        precondition(bins >= 8 && bins % 2 == 0, "bins must be even and at least 8")
        binCount = bins
        positive = [UInt64](repeating: 0, count: bins)
        negative = [UInt64](repeating: 0, count: bins)
    }

    public var hasFiniteValues: Bool { finiteCount > 0 }

    /// Adds `count` values at `values`.
    public mutating func add(_ values: UnsafePointer<Float>, count: Int) {
        var lo = Float.infinity, hi = -Float.infinity
        var bad: UInt64 = 0
        for i in 0..<count {
            let v = values[i]
            if !v.isFinite { bad += 1; continue }
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        nonFiniteCount += bad
        guard lo <= hi else { return }
        minimum = Swift.min(minimum, lo)
        maximum = Swift.max(maximum, hi)
        if hi > 0 { grow(&positive, range: &positiveRange, toCover: hi) }
        if lo < 0 { grow(&negative, range: &negativeRange, toCover: -lo) }
        let n = binCount
        let posScale = positiveRange > 0 ? Float(n) / positiveRange : 0
        let negScale = negativeRange > 0 ? Float(n) / negativeRange : 0
        positive.withUnsafeMutableBufferPointer { pos in
            negative.withUnsafeMutableBufferPointer { neg in
                for i in 0..<count {
                    let v = values[i]
                    guard v.isFinite else { continue }
                    if v >= 0 {
                        pos[Swift.min(Int(v * posScale), n - 1)] += 1
                    } else {
                        neg[Swift.min(Int(-v * negScale), n - 1)] += 1
                    }
                }
            }
        }
        finiteCount += UInt64(count) - bad
    }

    public mutating func add(_ values: [Float]) {
        values.withUnsafeBufferPointer { add($0.baseAddress!, count: $0.count) }
    }

    /// Doubles `range` (merging bin pairs) until it covers `value`; the first range is the
    /// smallest power of two at or above it, so later merges stay exact.
    private func grow(_ bins: inout [UInt64], range: inout Float, toCover value: Float) {
        if range == 0 {
            range = Float(sign: .plus, exponent: value.exponent + 1, significand: 1)
            return
        }
        while range < value {
            mergePairs(&bins)
            range *= 2
        }
    }

    private func mergePairs(_ bins: inout [UInt64]) {
        let half = bins.count / 2
        for i in 0..<half { bins[i] = bins[2 * i] + bins[2 * i + 1] }
        for i in half..<bins.count { bins[i] = 0 }
    }

    /// Folds another histogram of the same tensor into this one.
    public mutating func merge(_ other: RangeHistogram) {
        precondition(other.binCount == binCount, "histograms differ in bin count")
        nonFiniteCount += other.nonFiniteCount
        guard other.hasFiniteValues else { return }
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
        finiteCount += other.finiteCount
        mergeSide(&positive, &positiveRange, other.positive, other.positiveRange)
        mergeSide(&negative, &negativeRange, other.negative, other.negativeRange)
    }

    private func mergeSide(_ bins: inout [UInt64], _ range: inout Float, _ otherBins: [UInt64], _ otherRange: Float) {
        guard otherRange > 0 else { return }
        if range == 0 { bins = otherBins; range = otherRange; return }
        var o = otherBins, r = otherRange
        // Both ranges are powers of two, so the smaller side merges pairs until they match.
        while range < r { mergePairs(&bins); range *= 2 }
        while r < range { mergePairs(&o); r *= 2 }
        for i in 0..<bins.count { bins[i] += o[i] }
    }
}
