import Foundation
import Runtime

/// How a calibrated tensor's clipping range is chosen from its statistics.
public enum RangeMethod: String, Sendable, CaseIterable, Codable {
    /// The observed finite minimum and maximum.
    case minmax
    /// Per side, the value below which `percentile` % of that side's values lie.
    case percentile
    /// Per side, the threshold minimizing the KL divergence between the clipped histogram and its
    /// 128-level quantization (the TensorRT entropy calibration idea).
    case entropy
}

/// A clipping range; always contains zero so that zero (padding, ReLU output) is exact.
public struct ClipRange: Sendable, Equatable, Codable {
    public var lower: Float
    public var upper: Float
    /// True when the statistics had no usable range and a default was taken.
    public var isFallback: Bool
    public init(lower: Float, upper: Float, isFallback: Bool = false) {
        self.lower = lower; self.upper = upper; self.isFallback = isFallback
    }

    /// Per-tensor uint8 asymmetric parameters covering the range.
    public var uint8Params: QuantParams {
        let scale = (upper - lower) / 255
        let zp = Swift.min(255, Swift.max(0, (-lower / scale).rounded()))
        return QuantParams(scales: [scale], zeroPoints: [Int32(zp)], axis: nil)
    }
}

public enum RangeEstimator {
    /// Levels each side of zero gets in the entropy search (int8's resolution per sign).
    static let entropyLevels = 128

    /// The clipping range for `h` by `method`. A histogram with no finite values, or whose
    /// values are all zero, gives the fallback [0, 1].
    public static func range(_ h: RangeHistogram, method: RangeMethod, percentile: Double = 99.99) -> ClipRange {
        guard h.hasFiniteValues else { return ClipRange(lower: 0, upper: 1, isFallback: true) }
        let lo = Swift.min(h.minimum, 0), hi = Swift.max(h.maximum, 0)
        guard hi - lo > 0, (hi - lo).isFinite else { return ClipRange(lower: 0, upper: 1, isFallback: true) }
        var r: ClipRange
        switch method {
        case .minmax:
            r = ClipRange(lower: lo, upper: hi)
        case .percentile:
            r = ClipRange(lower: -sideQuantile(h.negative, h.negativeRange, p: percentile / 100, cap: -lo),
                          upper: sideQuantile(h.positive, h.positiveRange, p: percentile / 100, cap: hi))
        case .entropy:
            r = ClipRange(lower: -sideEntropyThreshold(h.negative, h.negativeRange, cap: -lo),
                          upper: sideEntropyThreshold(h.positive, h.positiveRange, cap: hi))
        }
        // A side clipped to nothing while the other is empty too (a constant) keeps the min-max range.
        if !(r.upper - r.lower > 0) { r = ClipRange(lower: lo, upper: hi) }
        return r
    }

    /// Smallest bin edge with at least `p` of the side's values at or below it, capped at the
    /// side's extreme.
    static func sideQuantile(_ bins: [UInt64], _ range: Float, p: Double, cap: Float) -> Float {
        guard range > 0, cap > 0 else { return 0 }
        let total = bins.reduce(0, +)
        guard total > 0 else { return 0 }
        let want = Double(total) * Swift.min(Swift.max(p, 0), 1)
        var cumulative: UInt64 = 0
        let width = range / Float(bins.count)
        for (i, c) in bins.enumerated() {
            cumulative += c
            if Double(cumulative) >= want { return Swift.min(Float(i + 1) * width, cap) }
        }
        return cap
    }

    /// The KL-optimal clipping threshold of one side's histogram.
    static func sideEntropyThreshold(_ bins: [UInt64], _ range: Float, cap: Float) -> Float {
        guard range > 0, cap > 0 else { return 0 }
        let width = range / Float(bins.count)
        // Only bins up to the side's extreme carry data; search thresholds within them.
        let used = Swift.min(bins.count, Swift.max(1, Int((cap / width).rounded(.up))))
        let levels = entropyLevels
        guard used > levels else { return cap }
        let counts = bins.prefix(used).map(Double.init)
        // A handful of distinct values quantizes exactly at any threshold (KL 0 everywhere), so
        // the search says nothing: keep the whole range.
        guard counts.filter({ $0 > 0 }).count >= 16 else { return cap }
        var suffix = [Double](repeating: 0, count: used + 1)
        for i in stride(from: used - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + counts[i] }
        let step = Swift.max(1, (used - levels) / 256)
        var best = used, bestKL = Double.infinity
        var candidate = levels
        while candidate <= used {
            let kl = divergence(counts, threshold: candidate, outliers: suffix[candidate], levels: levels)
            if kl < bestKL { bestKL = kl; best = candidate }
            if candidate == used { break }
            candidate = Swift.min(candidate + step, used)
        }
        return Swift.min(Float(best) * width, cap)
    }

    /// KL(P || Q): P is the first `threshold` bins with the clipped tail added to the last one;
    /// Q spreads each of `levels` groups' unclipped mass evenly over the group's nonempty bins of
    /// P, so clipping costs through the missing tail and coarse levels through the spreading.
    static func divergence(_ counts: [Double], threshold: Int, outliers: Double, levels: Int) -> Double {
        var p = Array(counts[0..<threshold])
        p[threshold - 1] += outliers
        var q = [Double](repeating: 0, count: threshold)
        for j in 0..<levels {
            let start = j * threshold / levels, end = (j + 1) * threshold / levels
            guard end > start else { continue }
            var mass = 0.0, nonzero = 0
            for k in start..<end where p[k] > 0 { mass += counts[k]; nonzero += 1 }
            guard nonzero > 0 else { continue }
            let share = mass / Double(nonzero)
            for k in start..<end where p[k] > 0 { q[k] = share }
        }
        let pSum = p.reduce(0, +), qSum = q.reduce(0, +)
        guard pSum > 0, qSum > 0 else { return .infinity }
        var kl = 0.0
        let epsilon = 1e-12
        for k in 0..<threshold where p[k] > 0 {
            let pk = p[k] / pSum
            let qk = Swift.max(q[k] / qSum, epsilon)
            kl += pk * log(pk / qk)
        }
        return kl
    }
}
