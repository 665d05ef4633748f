import Foundation
import TestDefinition
import TestRunner

/// Asks the person at the terminal to carry out and judge a manual step.
enum ManualTerminal {
    static let judge: ManualJudge = { prompt in
        var text = "\nManual step in \(prompt.suite)/\(prompt.set)/\(prompt.caseName)\n"
        if let description = prompt.description { text += description + "\n" }
        text += "  \(prompt.instruction)\n"
        while true {
            FileHandle.standardError.write(Data((text + "Result? [p]ass, [f]ail, [n]/a: ").utf8))
            guard let answer = readLine() else { return nil }
            switch answer.trimmingCharacters(in: .whitespaces).lowercased() {
            case "p", "pass": return .pass
            case "f", "fail": return .fail
            case "n", "na", "n/a": return .notApplicable
            default: text = ""
            }
        }
    }
}
