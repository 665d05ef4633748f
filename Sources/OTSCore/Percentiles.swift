/// Nearest-rank percentiles of a sample: the p-th percentile is the
/// smallest value with at least p of the sample at or below it, always a
/// value of the sample (no interpolation).
public struct Percentiles<Value: Comparable & Sendable>: Sendable {
    /// The sample, smallest first.
    public let sorted: [Value]

    public init(_ values: some Sequence<Value>) {
        sorted = values.sorted()
    }

    /// The `p`-th percentile (`p` from 0 to 1; held to that range); nil
    /// for an empty sample.
    public func percentile(_ p: Double) -> Value? {
        guard !sorted.isEmpty else { return nil }
        return sorted[Self.rank(p, count: sorted.count) - 1]
    }

    /// The nearest rank (from 1) of the `p`-th percentile in a sample of
    /// `count` (at least 1): the one rank rule of the project, which
    /// `LogHistogram` follows too.
    public static func rank(_ p: Double, count: Int) -> Int {
        let p = p.isNaN ? 0 : min(1, max(0, p))
        return min(count, max(1, Int((Double(count) * p).rounded(.up))))
    }

    /// The 50th percentile.
    public var median: Value? { percentile(0.5) }
}

extension Percentiles where Value: FloatingPoint {
    /// The median as statistics books define it: the middle value, or the
    /// mean of the middle two for an even count; nil for an empty sample.
    /// For estimates (run times), where the nearest rank would lean low.
    public var meanMedian: Value? {
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
