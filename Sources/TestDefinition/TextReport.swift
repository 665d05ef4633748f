/// Results as plain text (`ots run -r text`): one line a case, its steps
/// when it did not pass, and a summary.
public enum TextReport {
    public static func text(_ results: TestResults) -> String {
        var lines: [String] = []
        lines.append("Test results (environment \(results.environment), product \(results.hwproduct.isEmpty ? "-" : results.hwproduct), build \(results.hwbuild.isEmpty ? "-" : results.hwbuild))")
        if let hwid = results.hwiddetect {
            lines.append("Hardware id: \(hwid)")
        }
        for suite in results.suites {
            lines.append("")
            lines.append("Suite \(suite.attributes.name)")
            for set in suite.sets {
                lines.append("  Set \(set.attributes.name)")
                for step in set.preSteps where step.result == .fail {
                    lines.append("    pre-step FAIL: \(step.command) (\(step.failureInfo ?? ""))")
                }
                for testCase in set.cases {
                    var line = "    \(pad(testCase.result.rawValue)) \(testCase.name)"
                    if testCase.isInsignificant { line += " (insignificant)" }
                    if let info = testCase.failureInfo ?? testCase.comment { line += ": \(info)" }
                    lines.append(line)
                    if testCase.result == .fail {
                        for step in testCase.steps where step.result != .notApplicable {
                            lines.append("        \(pad(step.result.rawValue)) \(step.command) [rc \(step.returnCode.map(String.init) ?? "-"), expected \(step.expectedResult)]")
                        }
                    }
                    for measurement in testCase.measurements {
                        lines.append("        measurement \(measurement.name) = \(ResultsWriter.number(measurement.value)) \(measurement.unit)")
                    }
                }
                for step in set.postSteps where step.result == .fail {
                    lines.append("    post-step FAIL: \(step.command) (\(step.failureInfo ?? ""))")
                }
            }
        }
        let cases = results.allCases
        let passed = cases.filter { $0.result == .pass }.count
        let failed = cases.filter { $0.result == .fail }.count
        let notApplicable = cases.filter { $0.result == .notApplicable }.count
        lines.append("")
        lines.append("\(cases.count) cases: \(passed) passed, \(failed) failed, \(notApplicable) N/A")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ text: String) -> String {
        text.count >= 4 ? text : text + String(repeating: " ", count: 4 - text.count)
    }
}
