import OTSCore

/// One recorded run of a set (or of a whole package) on a device group.
public struct RunTimeSample: Sendable, Hashable {
    public var package: String
    /// Nil for the whole package.
    public var set: String?
    public var seconds: Double
    /// False for runs that do not count: timed out, cancelled, or ended in
    /// an infrastructure error.
    public var counts: Bool

    public init(package: String, set: String?, seconds: Double, counts: Bool = true) {
        self.package = package
        self.set = set
        self.seconds = seconds
        self.counts = counts
    }
}

/// What the planner knows of a package's shape.
public struct PackageStructure: Sendable, Hashable {
    public struct TestSet: Sendable, Hashable {
        public var name: String
        /// Its number of cases, when known.
        public var cases: Int?

        public init(name: String, cases: Int? = nil) {
            self.name = name
            self.cases = cases
        }
    }

    public var package: PackageRequest
    /// Its sets; nil when they are not known (the package is planned whole).
    public var sets: [TestSet]?
    /// True when `sets` come from the package's definition; false when they
    /// were learned from history, so the package may hold sets not listed.
    public var setsAreComplete: Bool
    /// The package must run in one task.
    public var whole: Bool

    public init(package: PackageRequest, sets: [TestSet]?, setsAreComplete: Bool = true, whole: Bool = false) {
        self.package = package
        self.sets = sets
        self.setsAreComplete = setsAreComplete
        self.whole = whole
    }

    /// Its number of cases, when every set's is known.
    public var cases: Int? {
        guard let sets, !sets.isEmpty else { return nil }
        var total = 0
        for set in sets {
            guard let cases = set.cases else { return nil }
            total += cases
        }
        return total
    }
}

/// Estimated run times of a testrun's packages and sets, and where each
/// came from.
public struct RunTimeEstimates: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var package: PackageRequest
        /// Nil for a package planned whole.
        public var set: String?
        public var seconds: Double
        public var source: EstimateSource

        public init(package: PackageRequest, set: String?, seconds: Double, source: EstimateSource) {
            self.package = package
            self.set = set
            self.seconds = seconds
            self.source = source
        }
    }

    /// Every set of every splittable package, and every package planned
    /// whole, in request order.
    public var items: [Item]
    /// What the estimates were based on, for people.
    public var notes: [String]
    /// Counts of items by source.
    public var sources: [EstimateSource: Int] {
        items.reduce(into: [:]) { $0[$1.source, default: 0] += 1 }
    }
}

/// Turns recorded run times into estimates (pure).
///
/// - A set's estimate is its last valid duration, guarded by the median of
///   the last five valid ones: when the last run took less than the median
///   (with at least three runs), the median is used. A last run above the
///   median is kept: it may be a change rather than an outlier. For
///   scheduling a long set taken for short is what costs (it starts late
///   and nothing can split it), while one taken for long only finishes its
///   task early, which balancing makes up: so of the last run and the
///   typical one, the plan takes the longer. Replaying recorded versions
///   showed it (docs/benchmarks.md).
/// - A set never seen gets the mean of its package's known sets, else the
///   median of all known sets.
/// - A package with no history at all is estimated from its cases: the
///   median seconds per case of the known sets whose cases are known, else
///   `secondsPerCase`.
/// - A package planned whole uses its own recorded duration when there is
///   one, else the sum of its sets' estimates.
public struct RunTimeEstimator: Sendable {
    /// Seconds per case when history says nothing about it.
    public var secondsPerCase: Double
    /// Seconds for a set or package of which nothing at all is known.
    public var unknownSeconds: Double
    /// How far below the median the last run may be before the median is
    /// used instead (a factor: 1, any run below the median).
    public var outlierFactor: Double
    /// How many recent runs the median looks at.
    public var medianWindow: Int

    public init(secondsPerCase: Double = 30, unknownSeconds: Double = 300, outlierFactor: Double = 1, medianWindow: Int = 5) {
        self.secondsPerCase = secondsPerCase
        self.unknownSeconds = unknownSeconds
        self.outlierFactor = outlierFactor
        self.medianWindow = medianWindow
    }

    struct Key: Hashable {
        var package: String
        var set: String?
    }

    /// The estimate of one key from its samples, newest first; nil when
    /// none counts.
    func estimate(newestFirst samples: [Double]) -> (seconds: Double, source: EstimateSource)? {
        guard let last = samples.first else { return nil }
        guard samples.count >= 3 else { return (last, .lastRun) }
        let median = Self.median(Array(samples.prefix(medianWindow)))
        if last * outlierFactor < median {
            return (median, .medianOfRecent)
        }
        return (last, .lastRun)
    }

    /// Estimates for `packages` from `samples` (newest first; samples of
    /// other packages help the rules for unknown sets).
    public func estimate(_ packages: [PackageStructure], samples: [RunTimeSample]) -> RunTimeEstimates {
        var valid: [Key: [Double]] = [:]
        var ignored = 0
        for sample in samples {
            guard sample.counts, sample.seconds.isFinite, sample.seconds >= 0 else {
                ignored += 1
                continue
            }
            valid[Key(package: sample.package, set: sample.set), default: []].append(sample.seconds)
        }
        var known: [Key: (seconds: Double, source: EstimateSource)] = [:]
        for (key, values) in valid {
            known[key] = estimate(newestFirst: values)
        }
        var setsByPackage: [String: [Double]] = [:]
        for (key, value) in known where key.set != nil {
            setsByPackage[key.package, default: []].append(value.seconds)
        }
        let allSets = known.filter { $0.key.set != nil }.map(\.value.seconds)
        let medianOfAllSets = allSets.isEmpty ? nil : Self.median(allSets)
        var perCase: [Double] = []
        for package in packages {
            for set in package.sets ?? [] {
                if let cases = set.cases, cases > 0, let value = known[Key(package: package.package.name, set: set.name)] {
                    perCase.append(value.seconds / Double(cases))
                }
            }
        }
        let secondsPerCase = perCase.isEmpty ? self.secondsPerCase : Self.median(perCase)
        let packageTotals = Dictionary(grouping: known.filter { $0.key.set != nil }, by: \.key.package)
            .mapValues { $0.reduce(0) { $0 + $1.value.seconds } }

        var items: [RunTimeEstimates.Item] = []
        var notes: [String] = []
        for package in packages {
            let name = package.package.name
            let knownSets = setsByPackage[name] ?? []
            let packageRecord = known[Key(package: name, set: nil)]
            let hasHistory = !knownSets.isEmpty || packageRecord != nil
            func setEstimate(_ set: PackageStructure.TestSet) -> (Double, EstimateSource) {
                if let value = known[Key(package: name, set: set.name)] { return value }
                if !knownSets.isEmpty { return (knownSets.reduce(0, +) / Double(knownSets.count), .packageMean) }
                if !hasHistory, let cases = set.cases { return (Double(cases) * secondsPerCase, .cases) }
                if let medianOfAllSets { return (medianOfAllSets, .allSetsMedian) }
                if let cases = set.cases { return (Double(cases) * secondsPerCase, .cases) }
                return (unknownSeconds, .unknown)
            }
            if let sets = package.sets, !sets.isEmpty, !package.whole {
                if !hasHistory {
                    notes.append(
                        "\(name): no history; estimated from \(package.cases.map { "its \($0) cases" } ?? "the rules for unknown sets")")
                }
                for set in sets {
                    let (seconds, source) = setEstimate(set)
                    items.append(.init(package: package.package, set: set.name, seconds: seconds, source: source))
                }
                continue
            }
            // Planned whole.
            if let packageRecord {
                items.append(.init(package: package.package, set: nil, seconds: packageRecord.seconds, source: packageRecord.source))
            } else if let sets = package.sets, !sets.isEmpty {
                let estimates = sets.map(setEstimate)
                let source: EstimateSource = estimates.allSatisfy { $0.1.isRecorded } ? .setSum : estimates.map(\.1).max() ?? .unknown
                items.append(.init(package: package.package, set: nil, seconds: estimates.reduce(0) { $0 + $1.0 }, source: source))
            } else if let total = packageTotals[name] {
                items.append(.init(package: package.package, set: nil, seconds: total, source: .setSum))
            } else if !packageTotals.isEmpty {
                items.append(
                    .init(package: package.package, set: nil, seconds: Self.median(Array(packageTotals.values)), source: .allPackagesMedian)
                )
                notes.append("\(name): no history and no known sets; estimated as the median package")
            } else {
                items.append(.init(package: package.package, set: nil, seconds: unknownSeconds, source: .unknown))
                notes.append("\(name): nothing known; estimated at \(Int(unknownSeconds)) s")
            }
        }
        if ignored > 0 {
            notes.append("\(ignored) recorded runs ignored (timed out, cancelled or infrastructure errors)")
        }
        return RunTimeEstimates(items: items, notes: notes)
    }

    /// The median (the mean of the middle two for an even count).
    static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty)
        return Percentiles(values).meanMedian!
    }
}

/// Where an estimate came from, best first.
public enum EstimateSource: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    /// The last valid run.
    case lastRun = "last_run"
    /// The median of the recent runs, the last one being below it.
    case medianOfRecent = "median_of_recent"
    /// A whole package: the sum of its sets' recorded estimates.
    case setSum = "set_sum"
    /// A set never seen: the mean of its package's known sets.
    case packageMean = "package_mean"
    /// A set never seen in a package never seen: the median of all sets.
    case allSetsMedian = "all_sets_median"
    /// A package never seen, without known sets: the median package.
    case allPackagesMedian = "all_packages_median"
    /// A package never seen: its cases times seconds per case.
    case cases
    /// Nothing known.
    case unknown

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// From this set's or package's own history.
    public var isRecorded: Bool { self == .lastRun || self == .medianOfRecent || self == .setSum }
}
