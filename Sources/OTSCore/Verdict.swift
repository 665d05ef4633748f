/// The one outcome of a testrun, as OTS decides it.
///
/// `error` means OTS could not produce a trustworthy answer (a task errored,
/// a device failed, a package produced no results); `fail` means the tests
/// ran and a significant case failed; `pass` means everything ran and passed.
public enum Verdict: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case pass = "PASS"
    case fail = "FAIL"
    case error = "ERROR"

    public var description: String { rawValue }

    /// Combines two verdicts: `error` wins over `fail`, which wins over `pass`.
    public func combined(with other: Verdict) -> Verdict {
        switch (self, other) {
        case (.error, _), (_, .error): .error
        case (.fail, _), (_, .fail): .fail
        default: .pass
        }
    }
}
