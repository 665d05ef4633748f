import Foundation

/// Durations counted in log-linear slots, so that histograms of any number
/// of time buckets merge by adding counts and give percentiles with a
/// bounded relative error, never keeping the values themselves.
///
/// The slots are those of a Prometheus native histogram of schema 6: slot
/// `k` holds the values in `(γ^(k-1), γ^k]` with `γ = 2^(1/64)`, and 0 has a
/// slot of its own. A percentile is the value that stands for the slot that
/// holds the nearest rank (the rank rule of `Percentiles`), within
/// `relativeError` (0.54 %) of the value an exact sample would give.
///
///     var histogram = LogHistogram()
///     histogram.add(milliseconds: 1250)
///     histogram.percentile(0.95)   // ≈ 1250, within 0.54 %
public struct LogHistogram: Sendable, Hashable, Codable {
    /// Counts by slot.
    public private(set) var slots: [Int: Int64]

    /// Values from slots per power of two.
    public static let slotsPerDoubling = 64
    /// `γ`, the ratio of one slot's upper bound to its lower bound.
    public static let growth = pow(2, 1 / Double(slotsPerDoubling))
    /// The largest relative distance between a value and the value that
    /// stands for its slot.
    public static let relativeError = (growth - 1) / (growth + 1)
    /// The slot of 0 (and of nothing else).
    public static let zeroSlot = Int(Int32.min)

    public init(slots: [Int: Int64] = [:]) {
        self.slots = slots.filter { $0.value > 0 }
    }

    /// The slot that holds a duration of `milliseconds` (negative counts as 0).
    public static func slot(milliseconds: Int64) -> Int {
        guard milliseconds > 0 else { return zeroSlot }
        // The upper bound of slot k is γ^k: k = ceil(log2(v) · 64), with the
        // rounding of log2 corrected at exact bounds.
        var slot = Int((log2(Double(milliseconds)) * Double(slotsPerDoubling)).rounded(.up))
        if Double(milliseconds) > upperBound(slot) { slot += 1 }
        if slot > 0, Double(milliseconds) <= upperBound(slot - 1) { slot -= 1 }
        return slot
    }

    static func upperBound(_ slot: Int) -> Double {
        pow(2, Double(slot) / Double(slotsPerDoubling))
    }

    /// The duration that stands for a slot, in milliseconds: the point of
    /// `(γ^(k-1), γ^k]` equally far, relatively, from both ends.
    public static func value(ofSlot slot: Int) -> Double {
        guard slot != zeroSlot else { return 0 }
        let upper = upperBound(slot)
        return 2 * upper / (growth + 1)
    }

    public var count: Int64 { slots.values.reduce(0, +) }
    public var isEmpty: Bool { slots.isEmpty }

    public mutating func add(milliseconds: Int64, count: Int64 = 1) {
        guard count > 0 else { return }
        slots[Self.slot(milliseconds: milliseconds), default: 0] += count
    }

    /// Adds another histogram's counts: the histogram of both samples.
    public mutating func merge(_ other: LogHistogram) {
        for (slot, count) in other.slots { slots[slot, default: 0] += count }
    }

    /// The `p`-th percentile in milliseconds (`p` from 0 to 1), by the
    /// nearest rank; nil when empty.
    public func percentile(_ p: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = Percentiles<Double>.rank(p, count: Int(clamping: total))
        var seen: Int64 = 0
        for slot in slots.keys.sorted() {
            seen += slots[slot]!
            if seen >= rank { return Self.value(ofSlot: slot) }
        }
        return nil
    }
}
