import Foundation
import OTSCore
import Testing

@Suite struct LogHistogramTests {
    @Test func everyValueStandsWithinTheStatedErrorOfItsSlot() {
        #expect(LogHistogram.relativeError < 0.01, "the issue asks for 1 % or better")
        var values = Array(Int64(1)...20_000)
        var generator = SplitMix64(seed: 7)
        values += (0..<20_000).map { _ in Int64.random(in: 20_000...31_536_000_000, using: &generator) }
        values += [Int64.max, 31_536_000_000, 1 << 40]
        for value in values {
            let slot = LogHistogram.slot(milliseconds: value)
            let standsFor = LogHistogram.value(ofSlot: slot)
            let error = abs(standsFor - Double(value)) / Double(value)
            #expect(error <= LogHistogram.relativeError * (1 + 1e-9), "\(value) ms in slot \(slot) stands as \(standsFor)")
        }
    }

    @Test func slotsGrowWithTheirValues() {
        var last = LogHistogram.slot(milliseconds: 0)
        #expect(last == LogHistogram.zeroSlot)
        for value in Int64(1)...5000 {
            let slot = LogHistogram.slot(milliseconds: value)
            #expect(slot >= last)
            last = slot
        }
        #expect(LogHistogram.slot(milliseconds: -5) == LogHistogram.zeroSlot, "a negative duration counts as 0")
    }

    @Test(arguments: [1, 2, 3, 10, 101, 1000, 5000])
    func percentilesAreThoseOfTheSampleWithinTheError(size: Int) {
        var generator = SplitMix64(seed: UInt64(size))
        // Durations over six orders of magnitude, some repeated, some 0.
        let sample: [Int64] = (0..<size).map { index in
            index % 17 == 0 ? 0 : Int64(exp(Double.random(in: 0...14, using: &generator)))
        }
        var histogram = LogHistogram()
        for value in sample { histogram.add(milliseconds: value) }
        #expect(histogram.count == Int64(size))
        let exact = Percentiles(sample.map(Double.init))
        for p in [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1] {
            let want = exact.percentile(p)!
            let got = histogram.percentile(p)!
            if want == 0 {
                #expect(got == 0)
            } else {
                #expect(abs(got - want) / want <= LogHistogram.relativeError * (1 + 1e-9), "p\(p): \(got) for \(want)")
            }
        }
    }

    @Test func histogramsOfPartsMergeIntoTheHistogramOfTheWhole() {
        var generator = SplitMix64(seed: 3)
        let sample = (0..<3000).map { _ in Int64.random(in: 0...600_000, using: &generator) }
        var whole = LogHistogram()
        var parts = [LogHistogram](repeating: LogHistogram(), count: 7)
        for (index, value) in sample.enumerated() {
            whole.add(milliseconds: value)
            parts[index % 7].add(milliseconds: value)
        }
        var merged = LogHistogram()
        for part in parts { merged.merge(part) }
        #expect(merged == whole)
        #expect(merged.percentile(0.5) == whole.percentile(0.5))
    }

    @Test func anEmptyHistogramHasNoPercentile() {
        #expect(LogHistogram().percentile(0.5) == nil)
        #expect(LogHistogram(slots: [4: 0]).isEmpty, "empty slots are not kept")
    }

    @Test func theRankRuleIsTheNearestRank() {
        // The smallest value with at least p of the sample at or below it.
        #expect(Percentiles<Int>.rank(0.5, count: 4) == 2)
        #expect(Percentiles<Int>.rank(0.5, count: 5) == 3)
        #expect(Percentiles<Int>.rank(0.95, count: 20) == 19)
        #expect(Percentiles<Int>.rank(0, count: 9) == 1)
        #expect(Percentiles<Int>.rank(1, count: 9) == 9)
        #expect(Percentiles<Int>.rank(.nan, count: 9) == 1)
    }
}
