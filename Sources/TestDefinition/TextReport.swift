/// Results as plain text (`ots run -r text`), laid out as testrunner-lite
/// writes them.
public enum TextReport {
    static let separator = String(repeating: "-", count: 68)

    public static func text(_ results: TestResults) -> String {
        var lines: [String] = []
        lines.append("Test results:")
        lines.append("  environment : \(results.environment)")
        lines.append("  hwproduct   : \(results.hwproduct)")
        lines.append("  hwbuild     : \(results.hwbuild)")
        for suite in results.suites {
            lines.append(separator)
            lines.append("Test suite name : \(suite.attributes.name)")
            lines.append("  description   : \(suite.attributes.description ?? " ")")
            if let domain = suite.attributes.domain { lines.append("  domain        : \(domain)") }
            for set in suite.sets {
                lines.append(separator)
                lines.append("  Test set name   : \(set.attributes.name)")
                lines.append("    description   : \(set.attributes.description ?? "")")
                if let feature = set.attributes.feature { lines.append("    feature       : \(feature)") }
                lines.append("    environment   : \(set.environment ?? results.environment)")
                for testCase in set.cases {
                    lines.append(separator)
                    lines.append("    Test case name  : \(testCase.name)")
                    lines.append("      description   : \(testCase.attributes.description ?? "")")
                    lines.append("      manual        : \(testCase.attributes.manual ?? false)")
                    lines.append("      result        : \(testCase.result.rawValue)" + (testCase.failureInfo.map { " (\($0))" } ?? ""))
                    if let value = testCase.attributes.requirement { lines.append("      requirement   : \(value)") }
                    if let value = testCase.subfeature { lines.append("      subfeature    : \(value)") }
                    if let value = testCase.bugzillaID { lines.append("      bugzilla_id   : \(value)") }
                    if let value = testCase.attributes.type { lines.append("      type          : \(value)") }
                    if let value = testCase.attributes.level { lines.append("      level         : \(value)") }
                    lines.append("      insignificant : \(testCase.attributes.insignificant ?? false)")
                    if let comment = testCase.comment { lines.append("      comment       : \(comment)") }
                    for step in testCase.steps {
                        lines.append(separator)
                        lines.append("      Test step       : \(step.command)")
                        lines.append("        start         : \(ResultsWriter.timestamp(step.start))")
                        lines.append("        end           : \(ResultsWriter.timestamp(step.end))")
                        lines.append("        expected code : \(step.expectedResult)")
                        lines.append("        return code   : \(step.returnCode ?? 0)")
                        lines.append("        result        : \(step.result.rawValue) \(step.failureInfo ?? " ")")
                        lines.append("        stdout        : \(nonEmpty(step.stdout))")
                        lines.append("        stderr        : \(nonEmpty(step.stderr))")
                    }
                }
            }
        }
        lines.append(separator)
        lines.append("End of test results.")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func nonEmpty(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return " " }
        return text
    }
}
