import Foundation
import TestDefinition
import TestRunner

/// `ots run -v` logging, in testrunner-lite's form on standard output:
/// `[INFO] 12:00:00 Finished test case c Result: PASS`. Warnings always go
/// to standard error.
struct RunLog: Sendable {
    /// 0 silent, 1 INFO, 2 DEBUG (every step and its output).
    var verbosity: Int
    /// `-P`: print each step's output.
    var printStepOutput: Bool
    /// `-S` and `-L`: they get every message written to standard output,
    /// and the warnings when the verbosity lets INFO through.
    var sinks: RunLogSinks? = nil

    func print(_ event: RunEvent) {
        switch event {
        case .setStarted(let suite, let set):
            info("Test suite: \(suite)")
            info("Test set: \(set)")
        case .stepFinished(_, _, _, let step):
            if verbosity >= 2 {
                log(
                    "DEBUG",
                    "STEP: \(step.command) return \(step.returnCode.map(String.init) ?? "-") expected \(step.expectedResult) result \(step.result.rawValue)"
                )
            }
            if verbosity >= 2 || printStepOutput {
                for text in [step.stdout, step.stderr].compactMap({ $0 }) where !text.isEmpty {
                    Swift.print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
                }
            }
        case .caseFinished(_, _, let result):
            var line = "Finished test case \(result.name) Result: \(result.result.rawValue)"
            if let info = result.failureInfo ?? result.comment { line += " (\(info))" }
            info(line)
        case .setFinished:
            break
        case .warning(let message):
            warning(message)
        }
    }

    func finished(_ results: TestResults, output: String) {
        let cases = results.allCases
        let passed = cases.filter { $0.result == .pass }.count
        let failed = cases.filter { $0.result == .fail }.count
        info("Executed \(cases.count) cases. Passed \(passed) Failed \(failed)")
        info("Results were written to: \(output)")
        printError(
            "\(cases.count) cases: \(passed) passed, \(failed) failed, "
                + "\(cases.filter { $0.result == .notApplicable }.count) N/A; results in \(output)"
        )
    }

    /// A warning: always on standard error; to the sinks as testrunner-lite
    /// logs warnings, with -v.
    func warning(_ message: String) {
        printError("warning: \(message)")
        if verbosity >= 1 { sinks?.send(level: "WARNING", message: message) }
    }

    func info(_ message: String) {
        if verbosity >= 1 { log("INFO", message) }
    }

    private func log(_ level: String, _ message: String) {
        sinks?.send(level: level, message: message)
        let time = Calendar.current.dateComponents([.hour, .minute, .second], from: Date())
        let clock = [time.hour, time.minute, time.second].map { String(format: "%02d", $0 ?? 0) }.joined(separator: ":")
        Swift.print("[\(level)] \(clock) \(message)")
    }
}
