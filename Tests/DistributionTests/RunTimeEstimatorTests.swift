import OTSCore
import Testing

@testable import Distribution

@Suite struct RunTimeEstimatorTests {
    let estimator = RunTimeEstimator()

    func structure(_ name: String, _ sets: [(String, Int?)]?, whole: Bool = false) -> PackageStructure {
        PackageStructure(
            package: PackageRequest(name: name), sets: sets?.map { PackageStructure.TestSet(name: $0.0, cases: $0.1) }, whole: whole)
    }

    func samples(_ package: String, _ set: String?, _ seconds: [Double], invalid: Set<Int> = []) -> [RunTimeSample] {
        seconds.enumerated().map { RunTimeSample(package: package, set: set, seconds: $0.element, counts: !invalid.contains($0.offset)) }
    }

    func only(_ package: String, _ set: String, _ history: [RunTimeSample]) -> RunTimeEstimates.Item {
        estimator.estimate([structure(package, [(set, nil)])], samples: history).items[0]
    }

    @Test func theLastValidRunCounts() {
        // Newest first: the 10 s run timed out, so 12 is the last valid one;
        // the median of 12, 11, 13 is 12, so it is no outlier.
        let item = only("p", "s", samples("p", "s", [10, 12, 11, 13], invalid: [0]))
        #expect(item.seconds == 12)
        #expect(item.source == .lastRun)
    }

    @Test func aLowLastRunGivesWayToTheMedianOfTheLastFive() {
        // 2 is below the median of 2, 10, 11, 12 (10.5).
        let low = only("p", "s", samples("p", "s", [2, 10, 11, 12]))
        #expect(low.seconds == 10.5)
        #expect(low.source == .medianOfRecent)
        // Runs older than the last five do not count: the median of
        // 10, 50, 50, 50, 50 is 50, and 10 is below it.
        let window = only("p", "s", samples("p", "s", [10, 50, 50, 50, 50, 1, 1, 1, 1]))
        #expect(window.seconds == 50)
        // A set that alternates between short and long runs is planned at
        // its typical run, not its last short one: 14.7 after 68.2, 14.7,
        // 14.7, 29.6 (median 14.7) stays; 14.7 after 68.2, 68.2, 29.6, 14.7
        // (median 29.6) is planned at 29.6.
        #expect(only("p", "s", samples("p", "s", [14.7, 68.2, 14.7, 14.7, 29.6])).seconds == 14.7)
        #expect(only("p", "s", samples("p", "s", [14.7, 68.2, 68.2, 29.6, 14.7])).seconds == 29.6)
        // The median exactly is kept as the last run.
        let typical = only("p", "s", samples("p", "s", [10, 10, 9, 12]))
        #expect(typical.seconds == 10)
        #expect(typical.source == .lastRun)
    }

    @Test func aLongLastRunIsKept() {
        // 100 is far above the median of 100, 10, 11, 12, 9 (11): the set
        // may have grown, and taking it for long costs little.
        let high = only("p", "s", samples("p", "s", [100, 10, 11, 12, 9]))
        #expect(high.seconds == 100)
        #expect(high.source == .lastRun)
    }

    @Test func twoRunsAreTooFewToCallOneAnOutlier() {
        #expect(only("p", "s", samples("p", "s", [1, 10])).seconds == 1)
    }

    @Test func aNewSetGetsTheMeanOfItsPackagesKnownSets() {
        let estimates = estimator.estimate(
            [structure("p", [("a", nil), ("b", nil), ("c", nil)])], samples: samples("p", "a", [10]) + samples("p", "b", [20]))
        #expect(estimates.items.map(\.seconds) == [10, 20, 15])
        #expect(estimates.items[2].source == .packageMean)
    }

    @Test func aNewPackageIsEstimatedFromItsCases() {
        // Known: a takes 10 s for 5 cases (2 s each), b 20 s for 5 (4 s
        // each): a median of 3 s per case.
        let estimates = estimator.estimate(
            [structure("p", [("a", 5), ("b", 5)]), structure("q", [("x", 4), ("y", 2)])],
            samples: samples("p", "a", [10]) + samples("p", "b", [20]))
        #expect(estimates.items.map(\.seconds) == [10, 20, 12, 6])
        #expect(estimates.items[2].source == .cases)
        #expect(estimates.notes.contains { $0.contains("q: no history") })
    }

    @Test func aNewSetWithoutCasesGetsTheMedianOfAllSets() {
        let estimates = estimator.estimate(
            [structure("p", [("a", nil), ("b", nil), ("c", nil)]), structure("r", [("z", nil)])],
            samples: samples("p", "a", [10]) + samples("p", "b", [20]) + samples("p", "c", [60]))
        #expect(estimates.items[3].seconds == 20)
        #expect(estimates.items[3].source == .allSetsMedian)
    }

    @Test func withoutAnyHistoryCasesAndDefaultsDecide() {
        let estimates = estimator.estimate([structure("q", [("x", 3), ("y", nil)]), structure("u", nil)], samples: [])
        #expect(estimates.items.map(\.seconds) == [90, 300, 300])
        #expect(estimates.items.map(\.source) == [.cases, .unknown, .unknown])
    }

    @Test func aWholePackageUsesItsOwnRecordElseItsSets() {
        let sets = samples("w", "a", [10]) + samples("w", "b", [20])
        let summed = estimator.estimate([structure("w", [("a", nil), ("b", nil)], whole: true)], samples: sets)
        #expect(summed.items.count == 1)
        #expect(summed.items[0].set == nil)
        #expect(summed.items[0].seconds == 30)
        #expect(summed.items[0].source == .setSum)
        let recorded = estimator.estimate(
            [structure("w", [("a", nil), ("b", nil)], whole: true)], samples: sets + samples("w", nil, [25]))
        #expect(recorded.items[0].seconds == 25)
        #expect(recorded.items[0].source == .lastRun)
    }

    @Test func ignoredRunsAreCounted() {
        let estimates = estimator.estimate(
            [structure("p", [("s", nil)])], samples: samples("p", "s", [1, 2, 3], invalid: [0, 1]))
        #expect(estimates.items[0].seconds == 3)
        #expect(estimates.notes.contains("2 recorded runs ignored (timed out, cancelled or infrastructure errors)"))
    }
}
