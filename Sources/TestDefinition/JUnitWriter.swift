import Foundation

/// Writes results as JUnit XML, the dialect Jenkins and GitLab read.
///
/// Each set becomes a `testsuite` named `suite.set`; each case a
/// `testcase`. A failing case has a `failure`; an N/A case is `skipped`; a
/// failing insignificant case is `skipped` with a message saying so, since
/// OTS's verdict does not count it either (unless the request asks).
public enum JUnitWriter {
    public static func xml(_ results: TestResults, name: String = "ots") -> String {
        var writer = XMLWriter()
        let all = results.allCases
        let failures = all.filter { $0.result == .fail && !$0.isInsignificant }.count
        let skipped = all.count - failures - all.filter { $0.result == .pass }.count
        let totalTime = results.suites.flatMap(\.sets).map(duration).reduce(0, +)
        writer.start(
            "testsuites",
            [
                ("name", name), ("tests", String(all.count)), ("failures", String(failures)), ("errors", "0"),
                ("skipped", String(skipped)), ("time", seconds(totalTime)),
            ]
        )
        for suite in results.suites {
            for set in suite.sets {
                let setFailures = set.cases.filter { $0.result == .fail && !$0.isInsignificant }.count
                let setSkipped = set.cases.count - setFailures - set.cases.filter { $0.result == .pass }.count
                let className = suite.attributes.name + "." + set.attributes.name
                let started = (set.preSteps + set.cases.flatMap(\.steps)).map(\.start).min()
                writer.start(
                    "testsuite",
                    [
                        ("name", className), ("tests", String(set.cases.count)), ("failures", String(setFailures)),
                        ("errors", "0"), ("skipped", String(setSkipped)), ("time", seconds(duration(set))),
                        ("timestamp", started.map { ISO8601DateFormatter().string(from: $0) }),
                        ("hostname", results.hwproduct.isEmpty ? nil : results.hwproduct),
                    ]
                )
                for testCase in set.cases {
                    write(testCase, className: className, into: &writer)
                }
                writer.end()
            }
        }
        writer.end()
        return writer.output
    }

    private static func write(_ testCase: CaseResult, className: String, into writer: inout XMLWriter) {
        let time = testCase.steps.map { $0.end.timeIntervalSince($0.start) }.reduce(0, +)
        writer.start("testcase", [("classname", className), ("name", testCase.name), ("time", seconds(time))])
        switch testCase.result {
        case .fail where testCase.isInsignificant:
            writer.empty("skipped", ["message": "insignificant case failed: " + (testCase.failureInfo ?? testCase.comment ?? "")])
        case .fail:
            let message = testCase.failureInfo ?? testCase.comment ?? "failed"
            let failed = testCase.steps.first { $0.result == .fail }
            let details = failed.map {
                "$ \($0.command)\nreturn code: \($0.returnCode.map(String.init) ?? "-"), expected: \($0.expectedResult)"
            }
            writer.text("failure", details ?? message, ["message": message, "type": "FAIL"])
        case .notApplicable:
            writer.empty("skipped", ["message": testCase.comment ?? "N/A"])
        case .pass:
            break
        }
        let out = testCase.steps.compactMap { step in step.stdout.flatMap { $0.isEmpty ? nil : "$ \(step.command)\n\($0)" } }
        if !out.isEmpty {
            writer.text("system-out", out.joined(separator: "\n"))
        }
        let err = testCase.steps.compactMap { step in step.stderr.flatMap { $0.isEmpty ? nil : "$ \(step.command)\n\($0)" } }
        if !err.isEmpty {
            writer.text("system-err", err.joined(separator: "\n"))
        }
        writer.end()
    }

    private static func duration(_ set: SetResult) -> Double {
        let steps = set.preSteps + set.cases.flatMap(\.steps) + set.postSteps
        guard let first = steps.map(\.start).min(), let last = steps.map(\.end).max() else { return 0 }
        return last.timeIntervalSince(first)
    }

    private static func seconds(_ value: Double) -> String {
        String(format: "%.3f", max(0, value))
    }
}
