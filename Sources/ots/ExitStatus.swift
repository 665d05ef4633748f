import Foundation

/// The exit codes of `ots run` and `ots validate`, those of testrunner-lite.
enum ExitStatus {
    /// A completed run, whatever its verdicts; or a valid definition.
    static let success: Int32 = 0
    /// Invalid arguments.
    static let invalidArguments: Int32 = 1
    /// The target could not be reached.
    static let connectionFailure: Int32 = 2
    /// The definition does not parse or breaks the schema.
    static let definitionInvalid: Int32 = 3
    /// The definition breaks the semantic rules.
    static let definitionSemanticallyInvalid: Int32 = 4
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
