import ArgumentParser
import Distribution
import Foundation

/// `ots bench schedule`: the history model replayed over recorded durations,
/// beside the baselines.
struct BenchScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Replay recorded test durations: plan each version from the ones before, score it on its own.",
        discussion: """
            FILE is JSON: {"units": [[package, set, case or null], ...], "versions": [[seconds or null per unit], ...]}, \
            versions oldest first. Each version from the second on is planned by the history model (and the baselines) \
            from the versions before it and played out on its actual durations; the score is makespan ÷ lower bound, \
            the bound being c + max(longest set, total ÷ m).

            --convert FILE... makes such a recording instead, printed on standard output: each FILE one version, \
            oldest first, a pytest-split .test_durations ({"path/test_x.py::case": seconds}) or a knapsack report \
            ({"spec/x_spec.rb": seconds}). A key's set is its file, its case what follows "::"; its package the \
            file's folder, or its first N folders with --package-depth N.
            """
    )

    @Option(
        name: .customLong("convert"), parsing: .upToNextOption,
        help: "Duration reports (.test_durations or knapsack), one per version, oldest first: print them as a recording.")
    var convert: [String] = []

    @Option(help: "With --convert: a set's package is its file's first N folders (default: its whole folder).")
    var packageDepth: Int?

    @Option(name: .customLong("history"), help: "The recorded durations.")
    var history = "../shared/bench/onegov-history.json"

    @Option(help: "Worker counts (m), comma separated.")
    var workers = "4,8,16,32"

    @Option(help: "Per-task costs in seconds (c): image download, flashing, booting; comma separated.")
    var costs = "0,60,180,300"

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard let workers = Self.numbers(workers), workers.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--workers: give positive whole numbers separated by commas, not '\(workers)'")
        }
        _ = workers
        guard let costs = Self.numbers(costs), costs.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--costs: give seconds (0 or more) separated by commas, not '\(costs)'")
        }
        _ = costs
        if let packageDepth, packageDepth < 1 {
            throw ValidationError("--package-depth: give a whole number of folders, 1 or more, not \(packageDepth)")
        }
        if packageDepth != nil && convert.isEmpty {
            throw ValidationError("--package-depth: only with --convert")
        }
    }

    static func numbers(_ text: String) -> [Int]? {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
        return values.map { $0! }
    }

    func run() throws {
        if !convert.isEmpty {
            do {
                print(try Self.converted(convert, packageDepth: packageDepth))
            } catch let error as RecordingError {
                printError("ots bench schedule --convert: \(error.message)")
                throw ExitCode(1)
            }
            return
        }
        let recording: ScheduleBenchmark.Recording
        do {
            recording = try Self.recording(at: history)
        } catch let error as RecordingError {
            printError("ots bench schedule: \(history): \(error.message)")
            throw ExitCode(1)
        }
        let benchmark = ScheduleBenchmark(
            workers: Self.numbers(workers)!, taskCosts: Self.numbers(costs)!.map(Double.init))
        let clock = ContinuousClock()
        let start = clock.now
        var lastReport = start
        let cells = benchmark.run(recording) { done, total in
            if clock.now - lastReport >= .seconds(2) || done == total {
                lastReport = clock.now
                printError("… \(done)/\(total) versions (\(Int((clock.now - start) / .seconds(1))) s)")
            }
        }
        let versions = recording.versions.count
        if json {
            let data = try JSONEncoder.pretty.encode(Report(history: history, versions: versions, cells: cells.map(Report.Cell.init)))
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("ots bench schedule: \(history), \(versions) versions, \(recording.units.count) cases; \(versions - 1) replayed")
        print("ratio = makespan ÷ (c + max(longest set, total ÷ m)); device h and tasks are means per version")
        var targetsHeld = true
        var losses = 0
        var instances = 0
        var worstMargin = 0.0
        for cell in cells {
            let c = Int(cell.taskCost)
            print("\nm = \(cell.workers), c = \(c) s")
            print(
                "  " + "model".padding(toLength: 24, withPad: " ", startingAt: 0)
                    + "   mean    p95    max  device h   tasks  history worse on")
            let history = cell.scores[.history] ?? []
            for model in ScheduleBenchmark.Model.allCases {
                guard let scores = cell.scores[model] else { continue }
                let summary = ScoreSummary(scores)
                var worse = ""
                if model.isBaseline {
                    let lost = Report.losses(history, against: scores)
                    losses += lost.count
                    instances += scores.count
                    worse = "\(lost.count)/\(scores.count)"
                    let margin = Report.worstMargin(history, against: scores)
                    if margin > 0 {
                        worstMargin = max(worstMargin, margin)
                        worse += String(format: " (by ≤ %.1f %%)", margin * 100)
                    }
                }
                print(
                    "  " + model.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)
                        + String(
                            format: " %6.3f %6.3f %6.3f %9.2f %7.1f  %@", summary.mean, summary.p95, summary.max, summary.deviceHours,
                            summary.tasks, worse))
            }
            if [8, 16].contains(cell.workers) {
                let summary = ScoreSummary(history)
                let held = summary.mean <= 1.05 && summary.p95 <= 1.15
                targetsHeld = targetsHeld && held
                print(
                    "  target (mean ≤ 1.05, p95 ≤ 1.15): \(held ? "met" : "NOT met") "
                        + String(format: "(mean %.3f, p95 %.3f)", summary.mean, summary.p95))
            }
        }
        print(
            "\ntargets for m ∈ {8, 16}: \(targetsHeld ? "met" : "NOT met"); history worse than a baseline on \(losses) of \(instances) instance comparisons"
                + (losses > 0 ? String(format: ", by at most %.1f %%", worstMargin * 100) : "")
        )
    }

    struct RecordingError: Error {
        var message: String
    }

    /// Reads a recording, naming what is wrong with it.
    static func recording(at path: String) throws -> ScheduleBenchmark.Recording {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordingError(message: "cannot be read (give the recorded durations with --history FILE)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw RecordingError(message: "is not JSON: \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else { throw RecordingError(message: "is not a JSON object") }
        guard let units = root["units"] as? [Any] else { throw RecordingError(message: "units: missing or not an array") }
        guard let versions = root["versions"] as? [Any] else { throw RecordingError(message: "versions: missing or not an array") }
        var parsedUnits: [ScheduleBenchmark.Recording.Unit] = []
        for (index, unit) in units.enumerated() {
            guard let parts = unit as? [Any], parts.count == 3, let package = parts[0] as? String, let set = parts[1] as? String,
                parts[2] is String || parts[2] is NSNull
            else {
                throw RecordingError(message: "units[\(index)]: must be [package, set, case or null]")
            }
            parsedUnits.append(.init(package: package, set: set, testCase: parts[2] as? String))
        }
        var parsedVersions: [[Double?]] = []
        for (index, version) in versions.enumerated() {
            guard let values = version as? [Any], values.count == units.count else {
                throw RecordingError(message: "versions[\(index)]: must be an array of \(units.count) entries, one per unit")
            }
            parsedVersions.append(
                try values.enumerated().map { position, value in
                    if value is NSNull { return nil }
                    guard let number = value as? NSNumber, number.doubleValue >= 0, number.doubleValue.isFinite else {
                        throw RecordingError(message: "versions[\(index)][\(position)]: must be seconds (0 or more) or null")
                    }
                    return number.doubleValue
                })
        }
        guard parsedVersions.count >= 2 else { throw RecordingError(message: "versions: at least two are needed to replay one") }
        return ScheduleBenchmark.Recording(units: parsedUnits, versions: parsedVersions)
    }

    /// The recording of `paths` (duration reports, oldest first) as JSON.
    static func converted(_ paths: [String], packageDepth: Int?) throws -> String {
        var reports: [[String: Double]] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { throw RecordingError(message: "\(path): cannot be read") }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: data)
            } catch {
                throw RecordingError(message: "\(path): is not JSON: \(error.localizedDescription)")
            }
            guard let entries = object as? [String: Any] else {
                throw RecordingError(message: "\(path): must be a JSON object of test → seconds")
            }
            var report: [String: Double] = [:]
            for (key, value) in entries {
                // JSON's true and false are NSNumbers too, of type "c" (char).
                guard let number = value as? NSNumber, String(cString: number.objCType) != "c", number.doubleValue.isFinite,
                    number.doubleValue >= 0
                else {
                    throw RecordingError(message: "\(path): \(key): must be seconds (0 or more)")
                }
                report[key] = number.doubleValue
            }
            reports.append(report)
        }
        guard reports.count >= 2 else { throw RecordingError(message: "give at least two reports (versions) to replay one") }
        let recording = ScheduleBenchmark.Recording.converting(reports, packageDepth: packageDepth)
        let root: [String: Any] = [
            "source": paths,
            "format":
                "units[i] = [package, set, case or null]; versions[v][i] = seconds or null when unit i was not in version v; versions oldest first",
            "units": recording.units.map { [$0.package, $0.set, $0.testCase ?? NSNull()] as [Any] },
            "versions": recording.versions.map { $0.map { $0 ?? NSNull() } as [Any] },
        ]
        let data = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// The JSON report.
    struct Report: Encodable {
        struct Cell: Encodable {
            var workers: Int
            var taskCostSeconds: Double
            var models: [String: ScoreSummary]
            /// Versions on which the history model's ratio is above the baseline's.
            var historyWorseOn: [String: [Int]]
            var scores: [String: [ScheduleBenchmark.Score]]

            enum CodingKeys: String, CodingKey {
                case workers
                case taskCostSeconds = "task_cost_seconds"
                case models
                case historyWorseOn = "history_worse_on"
                case scores
            }

            init(_ cell: ScheduleBenchmark.Cell) {
                workers = cell.workers
                taskCostSeconds = cell.taskCost
                models = Dictionary(uniqueKeysWithValues: cell.scores.map { ($0.key.rawValue, ScoreSummary($0.value)) })
                let history = cell.scores[.history] ?? []
                historyWorseOn = Dictionary(
                    uniqueKeysWithValues: cell.scores.filter { $0.key.isBaseline }.map {
                        ($0.key.rawValue, Report.losses(history, against: $0.value))
                    })
                scores = Dictionary(uniqueKeysWithValues: cell.scores.map { ($0.key.rawValue, $0.value) })
            }
        }

        var history: String
        var versions: Int
        var cells: [Cell]

        /// How much worse than `baseline` `history` is at most on one
        /// version (0.01 = 1 %; 0 when never worse).
        static func worstMargin(_ history: [ScheduleBenchmark.Score], against baseline: [ScheduleBenchmark.Score]) -> Double {
            zip(history, baseline).map { $0.0.ratio / $0.1.ratio - 1 }.max().map { max(0, $0) } ?? 0
        }

        /// Versions where `history` scores worse than `baseline`.
        static func losses(_ history: [ScheduleBenchmark.Score], against baseline: [ScheduleBenchmark.Score]) -> [Int] {
            zip(history, baseline).filter { $0.0.ratio > $0.1.ratio * (1 + 1e-9) }.map(\.0.version)
        }
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
