import OTSCore
import Testing

@Suite struct PercentilesTests {
    @Test func anEmptySampleHasNoPercentiles() {
        let empty = Percentiles([Double]())
        #expect(empty.percentile(0.5) == nil)
        #expect(empty.percentile(0) == nil)
        #expect(empty.percentile(1) == nil)
        #expect(empty.median == nil)
        #expect(empty.meanMedian == nil)
    }

    @Test func oneValueIsEveryPercentile() {
        let one = Percentiles([7.0])
        for p in [0, 0.01, 0.5, 0.95, 1] { #expect(one.percentile(p) == 7) }
        #expect(one.meanMedian == 7)
    }

    /// Nearest rank: the smallest value with at least p of the sample at or
    /// below it; the input's order does not matter.
    @Test(
        arguments: [
            (0.0, 1.0), (0.1, 1), (0.11, 2), (0.5, 5), (0.55, 6), (0.9, 9), (0.95, 10), (0.99, 10), (1, 10),
        ] as [(Double, Double)])
    func nearestRankOfTen(p: Double, expected: Double) {
        let sample = Percentiles([10.0, 3, 1, 9, 2, 8, 4, 7, 5, 6])
        #expect(sample.sorted == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(sample.percentile(p) == expected)
    }

    @Test func aFractionOutsideZeroToOneIsHeldToIt() {
        let sample = Percentiles([1, 2, 3])
        #expect(sample.percentile(-1) == 1)
        #expect(sample.percentile(2) == 3)
        #expect(sample.percentile(.nan) == 1)
    }

    @Test func theMedianOfAnEvenCount() {
        let sample = Percentiles([4.0, 1, 3, 2])
        #expect(sample.median == 2, "nearest rank: a value of the sample")
        #expect(sample.meanMedian == 2.5, "the mean of the middle two")
        #expect(Percentiles([3.0, 1, 2]).meanMedian == 2)
    }

    @Test func worksForAnyComparableValue() {
        #expect(Percentiles([Duration.seconds(3), .seconds(1), .seconds(2)]).percentile(0.9) == .seconds(3))
        #expect(Percentiles(["b", "a"]).median == "a")
    }
}
