import Foundation
import TestDefinition
import TestRunner

/// Progress lines of `ots run -v`, on standard error.
enum Progress {
    static func print(_ event: RunEvent, verbosity: Int) {
        switch event {
        case .setStarted(let suite, let set) where verbosity >= 1:
            printError("set \(suite)/\(set)")
        case .stepFinished(_, _, _, let step) where verbosity >= 2:
            printError("    \(step.result.rawValue) $ \(step.command) [rc \(step.returnCode.map(String.init) ?? "-")]")
            if !(step.stdout ?? "").isEmpty { printError(indent(step.stdout!)) }
            if !(step.stderr ?? "").isEmpty { printError(indent(step.stderr!)) }
        case .caseFinished(_, _, let result) where verbosity >= 1:
            var line = "  \(result.result.rawValue) \(result.name)"
            if let info = result.failureInfo ?? result.comment { line += ": \(info)" }
            printError(line)
        case .warning(let message):
            printError("warning: \(message)")
        default:
            break
        }
    }

    private static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "      | " + $0 }.joined(separator: "\n")
    }
}
