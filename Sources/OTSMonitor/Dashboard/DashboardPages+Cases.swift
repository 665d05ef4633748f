import Foundation
import OTSCore
import OTSStore

/// The dashboard's views of case results: a testrun's packages, sets and
/// cases with each failure's step, output and likely cause; a case's
/// history as a strip of cells; the flaky cases; the causes on the error
/// page and in the overview.
extension DashboardPages {
    struct CauseBlock {
        var kind: String
        var summary: String
        var evidence: [String]

        init(_ cause: LikelyCause) {
            kind = cause.kind.rawValue
            summary = cause.summary
            evidence = cause.evidence
        }
    }

    /// One run in a history strip: its colour (by class), a letter, and
    /// what hovering tells.
    struct Cell {
        var css: String
        var letter: String
        var label: String
        var link: String
        var current: Bool
    }

    struct OutputBlock {
        var key: String
        var name: String
        /// The last lines, shown.
        var tail: String
        /// The whole excerpt, folded, when it has more lines than the tail.
        var all: String?
        var lines: Int
        var wholeLink: String?
        var wholeName: String?
        var wholeLabel: String?
    }

    struct StepBlock {
        var number: Int
        var command: String
        var expected: Int
        var returned: String
        var stepInfo: String?
        var outputs: [OutputBlock]
    }

    struct FailureBlock {
        var key: String
        var failureInfo: String?
        var step: StepBlock?
        var cause: CauseBlock?
        var strip: [Cell]
        var historyLink: String
    }

    struct CaseNode {
        var name: String
        var path: String
        var result: String
        var badge: String
        var insignificant: Bool
        var worker: String
        var duration: String
        var causeKind: String?
        var failure: FailureBlock?
    }

    struct SetNode {
        var key: String
        var name: String
        var counts: String
        var open: Bool
        var cases: [CaseNode]
    }

    struct FileLink {
        var name: String
        var size: String
        var link: String?
    }

    struct PackageNode {
        var key: String
        var name: String
        var counts: String
        var badge: String
        var verdict: String
        var open: Bool
        var sets: [SetNode]
        var files: [FileLink]
        var hasFiles: Bool
    }

    struct ResultsTree {
        var packages: [PackageNode]
        var downloads: [FileLink]
        var hasDownloads: Bool
        var caseCount: Int
    }

    /// Output lines shown before the rest is folded.
    static let shownLines = 8
    /// Runs in a strip.
    static let stripRuns = 20

    static func historyLink(package: String, set: String? = nil, testCase: String? = nil, deviceGroup: String? = nil) -> String {
        var items = [URLQueryItem(name: "package", value: package)]
        if let set { items.append(URLQueryItem(name: "set", value: set)) }
        if let testCase { items.append(URLQueryItem(name: "case", value: testCase)) }
        if let deviceGroup { items.append(URLQueryItem(name: "devicegroup", value: deviceGroup)) }
        return "/history?" + query(items)
    }

    static func query(_ items: [URLQueryItem]) -> String {
        items.map { DashboardFormat.pathSegment($0.name) + "=" + DashboardFormat.pathSegment($0.value ?? "") }.joined(separator: "&")
    }

    static func badge(result: String) -> String {
        switch result {
        case "PASS": "pass"
        case "FAIL": "fail"
        default: "na"
        }
    }

    static func counts(_ rows: [CaseResultRow]) -> String {
        let failed = rows.count { $0.result == "FAIL" }
        let passed = rows.count { $0.result == "PASS" }
        let other = rows.count - failed - passed
        return "\(passed) passed, \(failed) failed" + (other > 0 ? ", \(other) N/A" : "")
    }

    /// A strip of runs, oldest on the left; `current` marks a testrun's.
    static func strip(_ runs: [CaseRun], current: String? = nil, limit: Int = stripRuns) -> [Cell] {
        runs.sorted(by: CaseRun.chronological).suffix(limit).map { run in
            Cell(
                css: badge(result: run.result), letter: run.passed ? "P" : run.failed ? "F" : "–",
                label: "\(run.result) on \(run.worker) with \(run.imageLabel), testrun \(run.testrunID), \(DashboardFormat.time(run.at))",
                link: testrunLink(run.testrunID), current: run.testrunID == current)
        }
    }

    func fileLink(testrunID: String, taskID: String, package: String, name: String) -> String? {
        serverURL.map {
            $0 + "/api/v1/testruns/" + DashboardFormat.pathSegment(testrunID) + "/files/content?"
                + Self.query([
                    URLQueryItem(name: "task", value: taskID), URLQueryItem(name: "package", value: package),
                    URLQueryItem(name: "name", value: name),
                ])
        }
    }

    /// A testrun's case results as a tree, with every failure's detail.
    func resultsTree(testrunID: String, tx: StoreTransaction) async throws -> ResultsTree {
        let rows = try await tx.caseResults(testrunID: testrunID)
        let failing = try await tx.caseResults(testrunID: testrunID, CaseResultFilter(result: "FAIL", steps: true))
        let judged = try await cases.judged(failing, tx: tx)
        let steps = Dictionary(failing.map { ($0.id, $0.steps) }, uniquingKeysWith: { a, _ in a })
        let files = try await tx.caseFiles(testrunID: testrunID)
        var packages: [PackageNode] = []
        for (package, packageRows) in Self.grouped(rows, by: \.package) {
            var sets: [SetNode] = []
            for (set, setRows) in Self.grouped(packageRows, by: \.setName) {
                let nodes = setRows.map { row in
                    CaseNode(
                        name: row.caseName, path: "\(row.package)/\(row.setName)/\(row.caseName)", result: row.result,
                        badge: Self.badge(result: row.result), insignificant: !row.significant, worker: row.worker,
                        duration: row.durationMs.map { DurationText.seconds(Double($0) / 1000) } ?? "-",
                        causeKind: judged.causes[row.id]?.kind.rawValue,
                        failure: row.result == "FAIL"
                            ? failureBlock(
                                row, steps: steps[row.id] ?? "[]", cause: judged.causes[row.id],
                                runs: judged.runs[CaseResultsIngest.key(row)])
                            : nil)
                }
                let failed = setRows.contains { $0.result == "FAIL" }
                sets.append(SetNode(key: "set:\(package)/\(set)", name: set, counts: Self.counts(setRows), open: failed, cases: nodes))
            }
            let failed = packageRows.contains { $0.result == "FAIL" }
            let links = files.filter { $0.package == package }.flatMap { entry in
                ((try? JSONCoding.decoder().decode([FileReference].self, from: Data(entry.files.utf8))) ?? []).map {
                    FileLink(
                        name: $0.name, size: Self.size($0.size),
                        link: fileLink(testrunID: testrunID, taskID: entry.taskID, package: package, name: $0.name))
                }
            }
            packages.append(
                PackageNode(
                    key: "package:\(package)", name: package, counts: Self.counts(packageRows), badge: failed ? "fail" : "pass",
                    verdict: failed ? "FAIL" : "PASS", open: failed, sets: sets, files: links, hasFiles: !links.isEmpty))
        }
        let downloads: [FileLink] =
            serverURL.map { server in
                let base = server + "/api/v1/testruns/" + DashboardFormat.pathSegment(testrunID)
                return [
                    FileLink(name: "results XML", size: "", link: base + "/results?format=xml"),
                    FileLink(name: "JUnit XML", size: "", link: base + "/results?format=junit"),
                    FileLink(name: "fetched files (JSON)", size: "", link: base + "/files"),
                ]
            } ?? []
        return ResultsTree(packages: packages, downloads: downloads, hasDownloads: !downloads.isEmpty, caseCount: rows.count)
    }

    /// Rows grouped by a name, in the order the names first come.
    static func grouped(_ rows: [CaseResultRow], by name: (CaseResultRow) -> String) -> [(String, [CaseResultRow])] {
        var order: [String] = []
        var groups: [String: [CaseResultRow]] = [:]
        for row in rows {
            let key = name(row)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        return order.map { ($0, groups[$0] ?? []) }
    }

    static func size(_ bytes: Int64) -> String {
        bytes < 1024
            ? "\(bytes) B"
            : bytes < 1 << 20 ? String(format: "%.1f KiB", Double(bytes) / 1024) : String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }

    func failureBlock(_ row: CaseResultRow, steps json: String, cause: LikelyCause?, runs: [CaseRun]?) -> FailureBlock {
        let steps = (try? JSONCoding.decoder().decode([StepRecord].self, from: Data(json.utf8))) ?? []
        let key = "case:\(row.package)/\(row.setName)/\(row.caseName)"
        var block: StepBlock?
        if let index = steps.firstIndex(where: { $0.result == "FAIL" }) {
            let step = steps[index]
            var outputs: [OutputBlock] = []
            for (name, text, file, length) in [
                ("stdout", step.stdout, step.stdoutFile, step.stdoutLength), ("stderr", step.stderr, step.stderrFile, step.stderrLength),
            ] {
                guard let text, !text.isEmpty else { continue }
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
                outputs.append(
                    OutputBlock(
                        key: key + ":" + name, name: name, tail: lines.suffix(Self.shownLines).joined(separator: "\n"),
                        all: lines.count > Self.shownLines ? text : nil, lines: lines.count,
                        wholeLink: file.flatMap { fileLink(testrunID: row.testrunID, taskID: row.taskID, package: row.package, name: $0) },
                        wholeName: file, wholeLabel: length.map { "\($0) characters" }))
            }
            block = StepBlock(
                number: index + 1, command: step.command, expected: step.expectedResult,
                returned: step.returnCode.map(String.init) ?? "nothing (it did not run)", stepInfo: step.failureInfo, outputs: outputs)
        }
        return FailureBlock(
            key: key, failureInfo: row.failureInfo, step: block, cause: cause.map(CauseBlock.init),
            strip: Self.strip(runs ?? [], current: row.testrunID),
            historyLink: Self.historyLink(package: row.package, set: row.setName, testCase: row.caseName, deviceGroup: row.deviceGroup))
    }

    /// The likely causes of a testrun's failure events: each failing case's
    /// (or failed flash's or boot's), by event id.
    func causes(of events: [MonitorEvent], tx: StoreTransaction) async throws -> [String: CauseBlock] {
        let testruns = Array(Set(events.compactMap(\.testrunID)))
        guard !testruns.isEmpty else { return [:] }
        var rows: [CaseResultRow] = []
        for testrun in testruns.prefix(200) {
            rows += try await tx.caseResults(testrunID: testrun, CaseResultFilter(result: "FAIL"))
        }
        let causes = try await cases.causes(of: rows, tx: tx)
        var blocks: [String: CauseBlock] = [:]
        for event in events {
            let row = rows.first { row in
                guard row.testrunID == event.testrunID else { return false }
                if let testCase = event.testCase {
                    return row.package == event.package && row.setName == event.set && row.caseName == testCase
                }
                return event.error?.category == .device && row.package == CaseResultsIngest.devicePackage && row.taskID == event.taskID
                    && row.attempt == event.attempt
            }
            if let row, let cause = causes[row.id] { blocks[event.id] = CauseBlock(cause) }
        }
        return blocks
    }

    // MARK: pages

    struct HistoryPage {
        var title: String
        var stream = "/api/v1/events/stream?type=results.stored"
        var name: String
        var deviceGroup: String?
        var strip: [Cell]
        var rows: [HistoryRow]
        var shown: Int
        var failed: Int
        var generated: String
    }

    struct HistoryRow {
        var recorded: String
        var result: String
        var badge: String
        var testCase: String
        var testrun: String
        var testrunLink: String
        var worker: String
        var device: String
        var image: String
        var cause: CauseBlock?
    }

    func history(package: String, set: String?, testCase: String?, deviceGroup: String?, now: Date = Date()) async throws -> HistoryPage {
        let rows = try await store.read { tx in
            try await tx.caseHistory(package: package, setName: set, caseName: testCase, deviceGroup: deviceGroup, limit: 100)
        }
        let name = [package, set, testCase].compactMap { $0 }.joined(separator: "/")
        return HistoryPage(
            title: "History of \(name)", name: name, deviceGroup: deviceGroup,
            strip: Self.strip(rows.map { CaseResultsIngest.run($0, id: $0.id) }, limit: 100),
            rows: rows.map { row in
                HistoryRow(
                    recorded: DashboardFormat.time(row.recordedAt), result: row.result, badge: Self.badge(result: row.result),
                    testCase: testCase == nil ? "\(row.package)/\(row.setName)/\(row.caseName)" : row.caseName, testrun: row.testrunID,
                    testrunLink: Self.testrunLink(row.testrunID), worker: row.worker,
                    device: DeviceProperties(devicegroup: row.deviceGroup, devicename: row.deviceName, deviceid: row.deviceID)
                        .requestedRoutingKey,
                    image: row.image ?? "-", cause: CaseAnalysis.storedCause(row).map(CauseBlock.init))
            },
            shown: rows.count, failed: rows.count { $0.result == "FAIL" }, generated: DashboardFormat.time(now))
    }

    struct FlakyPage {
        var title = "Flaky cases"
        var stream = "/api/v1/events/stream?type=test.flaky"
        var groups: [Choice]
        var groupName: String?
        var window: Int
        var threshold: String
        var cases: [FlakyRow]
        var generated: String
    }

    struct FlakyRow {
        var path: String
        var link: String
        var deviceGroup: String
        var runs: Int
        var flips: Int
        var rate: String
        var since: String
        var strip: [Cell]
        var contradictions: [String]
    }

    func flaky(deviceGroup: String?, now: Date = Date()) async throws -> FlakyPage {
        let (list, states, groups) = try await store.read { tx in
            (
                try await cases.flaky(deviceGroup: deviceGroup, tx: tx), try await tx.flakyCaseStates(deviceGroup: deviceGroup),
                try await tx.deviceGroups()
            )
        }
        let runs = Dictionary(
            states.map { ("\($0.package)/\($0.setName)/\($0.caseName)\u{0}\($0.deviceGroup)", CaseRun.decode($0.runs)) },
            uniquingKeysWith: { a, _ in a })
        return FlakyPage(
            groups: [Choice(value: "", label: "all device groups", selected: deviceGroup == nil)]
                + (groups + (deviceGroup.map { [$0] } ?? [])).uniqued().map { Choice(value: $0, label: $0, selected: $0 == deviceGroup) },
            groupName: deviceGroup, window: list.window, threshold: String(format: "%.2f", list.threshold),
            cases: list.cases.map { flaky in
                FlakyRow(
                    path: flaky.path,
                    link: Self.historyLink(
                        package: flaky.package, set: flaky.set, testCase: flaky.testCase, deviceGroup: flaky.deviceGroup),
                    deviceGroup: flaky.deviceGroup, runs: flaky.runs, flips: flaky.flips, rate: String(format: "%.2f", flaky.flipRate),
                    since: DashboardFormat.time(flaky.since), strip: Self.strip(runs[flaky.path + "\u{0}" + flaky.deviceGroup] ?? []),
                    contradictions: flaky.contradictions.map { pair in
                        "with \(pair.image ?? "no image"): PASS on \(pair.pass.worker) (testrun \(pair.pass.testrunID)), FAIL on \(pair.fail.worker) (testrun \(pair.fail.testrunID))"
                    })
            }, generated: DashboardFormat.time(now))
    }

    struct CauseCount {
        var cause: String
        var count: Int
        var meaning: String
    }

    static func causeCounts(_ counts: [String: Int]) -> [CauseCount] {
        LikelyCause.Kind.allCases.map { kind in
            let meaning =
                switch kind {
                case .device: "an instance fails where its peers pass"
                case .image: "a regression of the image"
                case .test: "a flaky case"
                case .unknown: "too little history to say"
                }
            return CauseCount(cause: kind.rawValue, count: counts[kind.rawValue] ?? 0, meaning: meaning)
        }
    }
}
