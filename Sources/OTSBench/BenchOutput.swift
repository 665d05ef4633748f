import Foundation

/// Writes one line of a benchmark's progress to standard error, where it
/// stays apart from the report on standard output.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
