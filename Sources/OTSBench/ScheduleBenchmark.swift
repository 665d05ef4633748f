import Distribution
import OTSCore

/// `ots bench schedule` (pure): replays recorded durations version by
/// version. Each version is planned from the versions before it (as the
/// store would give them to the history model) and scored on its own
/// durations, beside baselines.
public struct ScheduleBenchmark: Sendable {
    /// Recorded durations: `units[i]` is a case (package, set, case), and
    /// `versions[v][i]` its seconds in version v, nil when it was not there.
    public struct Recording: Sendable {
        public struct Unit: Sendable, Hashable {
            public var package: String
            public var set: String
            public var testCase: String?

            public init(package: String, set: String, testCase: String?) {
                self.package = package
                self.set = set
                self.testCase = testCase
            }
        }

        public var units: [Unit]
        /// Oldest first.
        public var versions: [[Double?]]

        public init(units: [Unit], versions: [[Double?]]) {
            self.units = units
            self.versions = versions
        }
    }

    /// One version's sets: their packages, cases and actual durations.
    struct Version {
        struct TestSet {
            var package: String
            var name: String
            var cases: Int
            var seconds: Double
        }
        /// In the order of the recording.
        var sets: [TestSet]
    }

    /// The plans compared, in report order.
    public enum Model: String, Sendable, Hashable, CaseIterable, Codable {
        case history
        case historyStatic = "history-no-balancing"
        case historyPaidSteals = "history-steals-pay-c"
        case roundRobin = "round-robin-package"
        case perPackage = "task-per-package"
        case greedy60 = "greedy-60min"
        case greedyShare = "greedy-total/m"
        case lptPackage = "lpt-package"
        case lptSet = "lpt-set"
        case lptSetTrue = "lpt-set-true-durations"

        /// Baselines the history model must not lose to (the true-duration
        /// plan is a bound, not a baseline).
        public var isBaseline: Bool {
            switch self {
            case .history, .historyStatic, .historyPaidSteals, .lptSetTrue: false
            default: true
            }
        }
    }

    /// One model's outcome on one version.
    public struct Score: Sendable, Hashable, Codable {
        public var version: Int
        public var ratio: Double
        public var makespan: Double
        public var lowerBound: Double
        public var deviceTime: Double
        public var tasks: Int

        enum CodingKeys: String, CodingKey {
            case version, ratio, makespan
            case lowerBound = "lower_bound"
            case deviceTime = "device_time"
            case tasks
        }
    }

    public struct Cell: Sendable, Codable {
        public var workers: Int
        public var taskCost: Double
        public var scores: [Model: [Score]]
    }

    public var workers: [Int]
    public var taskCosts: [Double]
    public var estimator: RunTimeEstimator

    public init(
        workers: [Int] = [4, 8, 16, 32], taskCosts: [Double] = [0, 60, 180, 300], estimator: RunTimeEstimator = RunTimeEstimator()
    ) {
        self.workers = workers
        self.taskCosts = taskCosts
        self.estimator = estimator
    }

    /// Replays every version from the second on; `progress` hears each one.
    public func run(_ recording: Recording, progress: (Int, Int) -> Void = { _, _ in }) -> [Cell] {
        let versions = Self.versions(of: recording)
        var cells: [Cell] = []
        for workers in self.workers {
            for cost in taskCosts {
                cells.append(Cell(workers: workers, taskCost: cost, scores: [:]))
            }
        }
        // Newest first, at most five per set: what the store hands the model.
        var history: [String: [Double]] = [:]
        var packageHistory: [String: [Double]] = [:]
        for (number, version) in versions.enumerated() {
            if number > 0 {
                let samples = history.flatMap { key, values in
                    let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
                    return values.map { RunTimeSample(package: parts[0], set: parts[1], seconds: $0) }
                }
                let plans = Plans(version: version, samples: samples, packageHistory: packageHistory, estimator: estimator)
                for index in cells.indices {
                    for (model, score) in plans.scores(workers: cells[index].workers, cost: cells[index].taskCost, version: number) {
                        cells[index].scores[model, default: []].append(score)
                    }
                }
                progress(number, versions.count - 1)
            }
            var totals: [String: Double] = [:]
            for set in version.sets {
                history["\(set.package)\u{0}\(set.name)", default: []].insert(set.seconds, at: 0)
                history["\(set.package)\u{0}\(set.name)"] = Array(history["\(set.package)\u{0}\(set.name)"]!.prefix(5))
                totals[set.package, default: 0] += set.seconds
            }
            for (package, total) in totals {
                packageHistory[package, default: []].insert(total, at: 0)
            }
        }
        return cells
    }

    static func versions(of recording: Recording) -> [Version] {
        recording.versions.map { durations in
            var index: [String: Int] = [:]
            var sets: [Version.TestSet] = []
            for (unit, seconds) in zip(recording.units, durations) {
                guard let seconds else { continue }
                let key = "\(unit.package)\u{0}\(unit.set)"
                if let position = index[key] {
                    sets[position].cases += 1
                    sets[position].seconds += seconds
                } else {
                    index[key] = sets.count
                    sets.append(Version.TestSet(package: unit.package, name: unit.set, cases: 1, seconds: seconds))
                }
            }
            return Version(sets: sets)
        }
    }

    /// Everything one version's plans need, computed once for every cell.
    struct Plans {
        let version: Version
        let actual: [Double]
        /// The history model's estimates per set.
        let estimates: [Double]
        /// Whether a set's estimate is not from its own history.
        let unknown: [Bool]
        /// Last run of each set, or the median of the known sets.
        let naive: [Double]
        /// Packages in first-seen order, with their sets' indices.
        let packages: [(name: String, sets: [Int])]
        /// Last run of each package, nil when never seen.
        let packageLast: [Double?]

        init(version: Version, samples: [RunTimeSample], packageHistory: [String: [Double]], estimator: RunTimeEstimator) {
            self.version = version
            actual = version.sets.map(\.seconds)
            var order: [String] = []
            var members: [String: [Int]] = [:]
            for (index, set) in version.sets.enumerated() {
                if members[set.package] == nil { order.append(set.package) }
                members[set.package, default: []].append(index)
            }
            packages = order.map { ($0, members[$0]!) }
            let structures = packages.map { package in
                PackageStructure(
                    package: PackageRequest(name: package.name),
                    sets: package.sets.map { PackageStructure.TestSet(name: version.sets[$0].name, cases: version.sets[$0].cases) })
            }
            let result = estimator.estimate(structures, samples: samples)
            var byKey: [String: RunTimeEstimates.Item] = [:]
            for item in result.items { byKey["\(item.package.name)\u{0}\(item.set ?? "")"] = item }
            estimates = version.sets.map { byKey["\($0.package)\u{0}\($0.name)"]!.seconds }
            unknown = version.sets.map { !byKey["\($0.package)\u{0}\($0.name)"]!.source.isRecorded }
            var last: [String: Double] = [:]
            for sample in samples where last["\(sample.package)\u{0}\(sample.set ?? "")"] == nil {
                last["\(sample.package)\u{0}\(sample.set ?? "")"] = sample.seconds
            }
            let knownMedian = last.isEmpty ? estimator.unknownSeconds : Percentiles(Array(last.values)).meanMedian!
            naive = version.sets.map { last["\($0.package)\u{0}\($0.name)"] ?? knownMedian }
            packageLast = packages.map { packageHistory[$0.name]?.first }
        }

        func items(_ indices: [Int]) -> [ScheduleSimulation.Item] {
            indices.map { ScheduleSimulation.Item(estimate: estimates[$0], actual: actual[$0]) }
        }

        func scores(workers: Int, cost: Double, version number: Int) -> [(Model, Score)] {
            let total = actual.reduce(0, +)
            let bound = cost + max(actual.max() ?? 0, total / Double(workers))
            let simulation = ScheduleSimulation(workers: workers, taskCost: cost)
            func score(_ outcome: ScheduleSimulation.Outcome) -> Score {
                Score(
                    version: number, ratio: outcome.makespan / bound, makespan: outcome.makespan, lowerBound: bound,
                    deviceTime: outcome.deviceTime, tasks: outcome.tasks)
            }
            func setTasks(_ schedule: SetScheduler.Schedule) -> [[ScheduleSimulation.Item]] {
                schedule.tasks.map(items)
            }
            func packageTasks(_ groups: [[Int]]) -> [[ScheduleSimulation.Item]] {
                groups.map { group in items(group.flatMap { packages[$0].sets }) }
            }
            var scores: [(Model, Score)] = []

            let plan = SetScheduler(taskCost: cost, maxTasks: workers).plan(estimates, unknown: unknown)
            var balanced = simulation
            balanced.balancing = true
            balanced.reuseCost = 0
            scores.append((.history, score(balanced.run(setTasks(plan)))))
            scores.append((.historyStatic, score(simulation.run(setTasks(plan)))))
            balanced.reuseCost = cost
            scores.append((.historyPaidSteals, score(balanced.run(setTasks(plan)))))

            var roundRobin = Array(repeating: [Int](), count: min(workers, packages.count))
            for index in packages.indices { roundRobin[index % roundRobin.count].append(index) }
            scores.append((.roundRobin, score(simulation.run(packageTasks(roundRobin)))))
            scores.append((.perPackage, score(simulation.run(packageTasks(packages.indices.map { [$0] })))))

            let knownPackages = packageLast.compactMap { $0 }
            let estimatedTotal = knownPackages.reduce(0, +)
            scores.append((.greedy60, score(simulation.run(packageTasks(greedy(target: 3600))))))
            scores.append(
                (.greedyShare, score(simulation.run(packageTasks(greedy(target: max(1, estimatedTotal / Double(workers))))))))

            let medianPackage = knownPackages.isEmpty ? 0 : Percentiles(knownPackages).meanMedian!
            let packageEstimates = packageLast.map { $0 ?? medianPackage }
            scores.append(
                (.lptPackage, score(simulation.run(packageTasks(SetScheduler.lpt(packageEstimates, tasks: workers).tasks)))))
            scores.append((.lptSet, score(simulation.run(setTasks(SetScheduler.lpt(naive, tasks: workers))))))
            scores.append((.lptSetTrue, score(simulation.run(setTasks(SetScheduler.lpt(actual, tasks: workers))))))
            return scores
        }

        /// OTS's original grouping: packages by their last run time, first
        /// fit, longest first, into groups under `target` seconds; every
        /// package without a run time in one more group.
        func greedy(target: Double) -> [[Int]] {
            var groups: [[Int]] = []
            var loads: [Double] = []
            let known = packages.indices.filter { packageLast[$0] != nil }.sorted { packageLast[$0]! > packageLast[$1]! }
            for index in known {
                let seconds = packageLast[index]!
                if let group = loads.firstIndex(where: { $0 + seconds <= target }) {
                    groups[group].append(index)
                    loads[group] += seconds
                } else {
                    groups.append([index])
                    loads.append(seconds)
                }
            }
            let unknown = packages.indices.filter { packageLast[$0] == nil }
            if !unknown.isEmpty { groups.append(unknown) }
            return groups
        }
    }
}

extension ScheduleBenchmark.Model: CodingKeyRepresentable {}

/// Summaries of scores.
public struct ScoreSummary: Sendable, Hashable, Codable {
    public var mean: Double
    public var p95: Double
    public var max: Double
    /// Mean device hours per version.
    public var deviceHours: Double
    /// Mean tasks per version.
    public var tasks: Double

    enum CodingKeys: String, CodingKey {
        case mean, p95, max
        case deviceHours = "device_hours"
        case tasks
    }

    public init(_ scores: [ScheduleBenchmark.Score]) {
        let ratios = scores.map(\.ratio).sorted()
        let count = Double(Swift.max(1, ratios.count))
        mean = ratios.reduce(0, +) / count
        p95 = Percentiles(ratios).percentile(0.95) ?? 0
        max = ratios.last ?? 0
        deviceHours = scores.reduce(0) { $0 + $1.deviceTime } / count / 3600
        tasks = Double(scores.reduce(0) { $0 + $1.tasks }) / count
    }
}

extension ScheduleBenchmark.Recording {
    /// A recording made from duration reports, one per version, oldest
    /// first: pytest-split's `.test_durations` (`{"path/test_file.py::Class::case": seconds}`)
    /// or knapsack's report (`{"spec/path/file_spec.rb": seconds}`). A key's
    /// set is its file (what comes before the first `::`), its case the rest
    /// (none without `::`: the file is the unit); its package the file's
    /// folder, or its first `packageDepth` folders when given. Units are in
    /// the order first seen, each version's keys sorted.
    public static func converting(_ reports: [[String: Double]], packageDepth: Int? = nil) -> Self {
        var units: [Unit] = []
        var index: [String: Int] = [:]
        for report in reports {
            for key in report.keys.sorted() where index[key] == nil {
                index[key] = units.count
                units.append(unit(key, packageDepth: packageDepth))
            }
        }
        let versions = reports.map { report in
            var durations = [Double?](repeating: nil, count: units.count)
            for (key, seconds) in report { durations[index[key]!] = seconds }
            return durations
        }
        return Self(units: units, versions: versions)
    }

    static func unit(_ key: String, packageDepth: Int?) -> Unit {
        let file: String
        let testCase: String?
        if let separator = key.firstRange(of: "::") {
            file = String(key[..<separator.lowerBound])
            testCase = String(key[separator.upperBound...])
        } else {
            file = key
            testCase = nil
        }
        var folders = file.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        if let packageDepth { folders = folders.prefix(max(1, packageDepth)) }
        let package = folders.isEmpty ? "." : folders.joined(separator: "/")
        return Unit(package: package, set: file, testCase: testCase)
    }
}
