import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// `ots history PACKAGE[/SET[/CASE]]`: a case's results across testruns.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show a case's results across testruns, newest first, with the device and image of each (from the monitor).",
        discussion:
            "PACKAGE/SET/CASE names one case; PACKAGE/SET or PACKAGE every case of a set or package. A name with '/' in it is given with --set and --case."
    )

    @OptionGroup var options: MonitorOptions
    @Argument(help: "PACKAGE, PACKAGE/SET or PACKAGE/SET/CASE.") var path: String
    @Option(help: "The set (instead of PACKAGE/SET).") var set: String?
    @Option(name: .customLong("case"), help: "The case (instead of PACKAGE/SET/CASE).") var testCase: String?
    @Option(help: "Only this device group.") var devicegroup: String?
    @Option(help: "At most this many runs (1 to 1000).") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    /// The package, set and case the arguments name.
    var names: (package: String, set: String?, testCase: String?) {
        if set != nil || testCase != nil { return (path, set, testCase) }
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil)
    }

    func validate() throws {
        let names = names
        if names.package.isEmpty || names.set == "" || names.testCase == "" {
            throw ValidationError("PACKAGE[/SET[/CASE]]: '\(path.prefix(200))' has an empty name")
        }
        if names.testCase != nil && names.set == nil { throw ValidationError("--case needs --set") }
    }

    func run() async throws {
        let names = names
        let history: CaseHistory
        do {
            history = try await options.client.history(
                package: names.package, set: names.set, testCase: names.testCase, deviceGroup: devicegroup, limit: limit)
        } catch {
            throw fail("history", error)
        }
        if json { return try printJSON(history) }
        guard !history.runs.isEmpty else {
            printError(
                "the monitor has no results of \([names.package, names.set, names.testCase].compactMap { $0 }.joined(separator: "/"))")
            return
        }
        let failed = history.runs.count { $0.result == "FAIL" }
        print("\(history.runs.count) runs, newest first, \(failed) failed: \(Self.strip(history.runs))")
        var table = Table(["recorded", "result", "case", "testrun", "worker", "device", "image", "cause"])
        for run in history.runs {
            table = table.row([
                run.recordedAt.formatted(.iso8601), run.result, names.testCase == nil ? run.path : run.testCase, run.testrunID, run.worker,
                run.device.requestedRoutingKey, run.image ?? "-", run.cause?.kind.rawValue ?? "",
            ])
        }
        table.print()
    }

    /// One letter a run: P, F, or - (N/A).
    static func strip(_ runs: [CaseView]) -> String {
        String(runs.map { $0.result == "PASS" ? "P" : $0.result == "FAIL" ? "F" : "-" })
    }
}

/// `ots flaky`: the cases the monitor finds flaky, and why.
struct FlakyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flaky",
        abstract: "List the flaky cases: those whose result flips on a device group, or that passed and failed with one image.")

    @OptionGroup var options: MonitorOptions
    @Option(help: "Only this device group.") var devicegroup: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let list: FlakyList
        do {
            list = try await options.client.flaky(deviceGroup: devicegroup)
        } catch {
            throw fail("flaky", error)
        }
        if json { return try printJSON(list) }
        guard !list.cases.isEmpty else {
            printError(
                "no flaky cases\(devicegroup.map { " on device group \($0)" } ?? "") (the last \(list.window) runs of each case judged)")
            return
        }
        for flaky in list.cases {
            print(
                "\(flaky.path)  on \(flaky.deviceGroup): \(flaky.flips) flips in \(flaky.runs) runs (flip rate \(String(format: "%.2f", flaky.flipRate))), \(flaky.contradictions.count) contradicting pairs, since \(flaky.since.formatted(.iso8601))"
            )
            for pair in flaky.contradictions {
                print(
                    "  with \(pair.image ?? "no image"): PASS on \(pair.pass.worker) in \(pair.pass.testrunID), FAIL on \(pair.fail.worker) in \(pair.fail.testrunID)"
                )
            }
        }
    }
}

/// `ots results ID --failed`: the failing cases, their failing step and
/// output, and their likely cause.
enum FailedCases {
    static func print(testrun: String, client: OTSClient, json: Bool) async throws {
        let list: CaseList
        do {
            list = try await client.cases(testrun: testrun, result: "FAIL", steps: true)
        } catch {
            throw fail("results", error)
        }
        if json { return try printJSON(list) }
        guard !list.cases.isEmpty else {
            printError("no failing cases in testrun \(testrun)")
            return
        }
        for failure in list.cases {
            Swift.print(text(failure))
        }
    }

    /// A failure as lines: the case, where it ran, its failing step and
    /// output excerpt, and its likely cause with the evidence.
    static func text(_ failure: CaseView) -> String {
        var lines = [
            "FAIL \(failure.path)\(failure.significant ? "" : " (insignificant)")  on \(failure.worker) (\(failure.device.requestedRoutingKey))  image \(failure.image ?? "-")"
        ]
        if let info = failure.failureInfo { lines.append("  \(info)") }
        if let step = failure.steps?.first(where: { $0.result == "FAIL" }) {
            let code = step.returnCode.map(String.init) ?? "none"
            lines.append("  step: \(step.command.split(separator: "\n").first.map(String.init) ?? "")")
            lines.append("    expected \(step.expectedResult), returned \(code)\(step.failureInfo.map { ": \($0)" } ?? "")")
            for (name, text, file) in [("stdout", step.stdout, step.stdoutFile), ("stderr", step.stderr, step.stderrFile)] {
                guard let text, !text.isEmpty else { continue }
                lines.append("    \(name):" + (file.map { " (whole output: fetched file \($0) of task \(failure.taskID))" } ?? ""))
                lines += text.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).map { "      " + $0 }
            }
        }
        if let cause = failure.cause {
            lines.append("  likely cause: \(cause.kind.rawValue): \(cause.summary)")
            lines += cause.evidence.map { "    - " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}
