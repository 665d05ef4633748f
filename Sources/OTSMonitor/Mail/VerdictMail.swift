import Foundation
import OTSCore
import TestDefinition

/// The e-mail of a testrun's end, as the original OTS sent it: subject
/// `[OTS] [VERDICT] Req#REQUEST_ID: SW_PRODUCT`, a body with the product,
/// the request, the testrun and a link to its page, each package's verdict,
/// the failing cases with their failing step, and the error for ERROR.
/// Made from what the monitor stored and the server's merged results.
struct VerdictMail: Sendable, Hashable {
    var testrunID: String
    var request: MailRequest
    /// The event that ended the testrun (finished, cancelled, timed out).
    var end: MonitorEvent
    /// Each package and its verdict, in the order they finished.
    var packages: [(name: String, verdict: String)]
    /// The merged results, when the server gave them.
    var results: TestResults?
    /// The dashboard's address as people reach it.
    var dashboardURL: String?
    /// Why the results are missing, when they are.
    var resultsNote: String?

    /// Longest output excerpt of a failing step.
    static let excerptLength = 400
    /// Most failing cases told.
    static let maximumCases = 50

    /// PASS, FAIL or ERROR; a cancelled testrun is ERROR (as the original
    /// knew no other).
    var verdict: String {
        switch end.type {
        case .testrunFinished: end.verdict ?? Verdict.error.rawValue
        default: Verdict.error.rawValue
        }
    }

    var subject: String {
        "[OTS] [\(verdict)] Req#\(request.requestID ?? testrunID): \(request.swProduct ?? "-")"
    }

    var link: String? { dashboardURL.map { $0 + "/testruns/" + testrunID } }

    var body: String {
        var lines: [String] = []
        lines.append("OTS testrun \(testrunID) ended: \(verdict)")
        lines.append("")
        lines.append("Product:   \(request.swProduct ?? "-")")
        lines.append("Request:   \(request.requestID ?? "-")")
        lines.append("Testrun:   \(testrunID)")
        if let link { lines.append("Link:      \(link)") }
        switch end.type {
        case .testrunCancelled: lines += ["", "The testrun was cancelled."]
        case .testrunTimedOut: lines += ["", "The testrun ran out of time."]
        default: break
        }
        if let error = end.error {
            lines += ["", "Error (\(error.category.rawValue); who must act: \(DashboardFormat.owner(error.category))): \(error.message)"]
        }
        lines += ["", "Packages"]
        if packages.isEmpty { lines.append("  (none ran)") }
        let width = min(60, packages.map(\.name.count).max() ?? 0)
        for package in packages {
            lines.append(
                "  " + package.name.padding(toLength: max(width, package.name.count), withPad: " ", startingAt: 0) + "  " + package.verdict)
        }
        if let results {
            let failing = Self.failingCases(results)
            if !failing.isEmpty {
                lines += ["", "Failing cases"]
                for item in failing.prefix(Self.maximumCases) { lines += item }
                if failing.count > Self.maximumCases { lines.append("  ... and \(failing.count - Self.maximumCases) more") }
            }
        } else if let resultsNote {
            lines += ["", "Failing cases: \(resultsNote)"]
        }
        if !request.summary.isEmpty {
            lines += ["", "The request"]
            lines += request.summary.map { "  " + $0 }
        }
        lines += ["", "-- ", "OTS, the Open Test Solution"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Each case that did not pass: where it is, its result, and its
    /// failing step with the step's return code and the end of its output.
    static func failingCases(_ results: TestResults) -> [[String]] {
        var found: [[String]] = []
        for suite in results.suites {
            for set in suite.sets {
                for item in set.cases where item.result != .pass {
                    var lines = ["  \(suite.attributes.name) / \(set.attributes.name) / \(item.name): \(item.result.rawValue)"]
                    if let info = item.failureInfo, !info.isEmpty { lines.append("    failure: \(Self.oneLine(info))") }
                    if let step = item.steps.first(where: { $0.result != .pass }) {
                        lines.append("    step: \(Self.oneLine(step.command))")
                        let code = step.returnCode.map(String.init) ?? "none"
                        lines.append("    return code: \(code) (expected \(step.expectedResult))")
                        if let info = step.failureInfo, !info.isEmpty { lines.append("    step failure: \(Self.oneLine(info))") }
                        let output = [step.stdout, step.stderr].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
                        if !output.isEmpty {
                            lines.append("    output (last \(excerptLength) characters):")
                            lines += excerpt(output).split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }
                        }
                    }
                    found.append(lines)
                }
            }
        }
        return found
    }

    static func excerpt(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count > excerptLength ? "..." + String(trimmed.suffix(excerptLength)) : trimmed
    }

    static func oneLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(300))
    }
}

extension VerdictMail {
    /// The packages and their verdicts from a testrun's stored events
    /// (`test.package.finished`; the last of a package counts).
    static func packages(from events: [MonitorEvent]) -> [(name: String, verdict: String)] {
        var order: [String] = []
        var verdicts: [String: String] = [:]
        for event in events where event.type == .packageFinished {
            guard let package = event.package else { continue }
            if verdicts[package] == nil { order.append(package) }
            verdicts[package] = event.verdict ?? Verdict.error.rawValue
        }
        return order.map { ($0, verdicts[$0] ?? "-") }
    }

    static func == (lhs: VerdictMail, rhs: VerdictMail) -> Bool {
        lhs.testrunID == rhs.testrunID && lhs.subject == rhs.subject && lhs.body == rhs.body
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(testrunID)
        hasher.combine(body)
    }
}
