import Foundation
import TestDefinition

/// The exit codes of `ots run` and `ots validate`, those of testrunner-lite.
enum ExitStatus {
    /// A completed run, whatever its verdicts; or a valid definition.
    static let success: Int32 = 0
    /// Invalid arguments.
    static let invalidArguments: Int32 = 1
    /// The target could not be reached, or was lost during the run.
    static let connectionFailure: Int32 = 2
    /// The definition is not well-formed XML.
    static let definitionMalformed: Int32 = 3
    /// The definition breaks the schema or the semantic rules.
    static let definitionInvalid: Int32 = 4
    /// The output folder could not be created.
    static let outputFolder: Int32 = 5
    /// The results could not be written.
    static let resultLogging: Int32 = 7
    /// Interrupted by SIGINT or SIGTERM.
    static let interrupted: Int32 = 130

    /// The exit code for a rejected definition: the worst of its problems.
    static func code(for errors: DefinitionErrors) -> Int32 {
        if errors.errors.contains(where: { $0.code == .unreadable }) { return invalidArguments }
        if errors.errors.contains(where: { $0.code == .malformed }) { return definitionMalformed }
        return definitionInvalid
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes one line to standard output at once (not buffered), for lines
/// that other programs wait for.
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
