/// How OTS decides a testrun's verdict from what its tasks produced.
///
/// ERROR when a task errored or an expected package produced no results;
/// otherwise FAIL when a significant case failed (insignificant cases count
/// only when the request asks); otherwise PASS.
///
/// The original OTS's rules (`Mode.original`, for testruns that come
/// through its XML-RPC interface) differ in what fails: a case that did not
/// pass (FAIL or N/A) counts, and insignificant cases count too.
public struct VerdictRules: Sendable, Hashable {
    /// Whose rules: OTS's, or the original OTS's.
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        /// FAIL counts; N/A does not; insignificant cases only on request.
        case ots
        /// Every case that did not pass counts (N/A too), insignificant
        /// cases included.
        case original
    }

    /// One task as it ended.
    public struct TaskOutcome: Sendable, Hashable {
        /// Nil when the task finished; the error's category and message when
        /// it errored.
        public var error: (category: ErrorCategory, message: String)?
        /// Packages the task produced results for.
        public var packagesWithResults: Set<String>
        /// Failed cases that count for the verdict.
        public var failedSignificantCases: Int
        /// Failed cases marked insignificant.
        public var failedInsignificantCases: Int

        public init(
            error: (category: ErrorCategory, message: String)? = nil,
            packagesWithResults: Set<String>,
            failedSignificantCases: Int = 0,
            failedInsignificantCases: Int = 0
        ) {
            self.error = error
            self.packagesWithResults = packagesWithResults
            self.failedSignificantCases = failedSignificantCases
            self.failedInsignificantCases = failedInsignificantCases
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.error?.category == rhs.error?.category && lhs.error?.message == rhs.error?.message
                && lhs.packagesWithResults == rhs.packagesWithResults
                && lhs.failedSignificantCases == rhs.failedSignificantCases
                && lhs.failedInsignificantCases == rhs.failedInsignificantCases
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(error?.category)
            hasher.combine(error?.message)
            hasher.combine(packagesWithResults)
            hasher.combine(failedSignificantCases)
            hasher.combine(failedInsignificantCases)
        }
    }

    /// The decision, with the error that made it ERROR.
    public struct Decision: Sendable, Hashable {
        public var verdict: Verdict
        public var errorCategory: ErrorCategory?
        public var message: String?

        public init(verdict: Verdict, errorCategory: ErrorCategory? = nil, message: String? = nil) {
            self.verdict = verdict
            self.errorCategory = errorCategory
            self.message = message
        }
    }

    /// Count insignificant failures as failures (the request's choice).
    public var countInsignificant: Bool
    public var mode: Mode

    public init(countInsignificant: Bool = false, mode: Mode = .ots) {
        self.countInsignificant = countInsignificant || mode == .original
        self.mode = mode
    }

    /// Whether a case's result (`PASS`, `FAIL`, `N/A`) is a failure under
    /// these rules, before its significance is weighed.
    public func isFailure(result: String) -> Bool {
        switch mode {
        case .ots: result == "FAIL"
        case .original: result != "PASS"
        }
    }

    public func decide(expectedPackages: Set<String>, tasks: [TaskOutcome]) -> Decision {
        if let errored = tasks.first(where: { $0.error != nil }), let error = errored.error {
            return Decision(verdict: .error, errorCategory: error.category, message: error.message)
        }
        let produced = tasks.reduce(into: Set<String>()) { $0.formUnion($1.packagesWithResults) }
        let missing = expectedPackages.subtracting(produced)
        if !missing.isEmpty {
            return Decision(
                verdict: .error,
                errorCategory: .infrastructure,
                message: "no results for \(missing.count == 1 ? "package" : "packages") \(missing.sorted().joined(separator: ", "))"
            )
        }
        let verdict = verdict(
            failedSignificantCases: tasks.reduce(0) { $0 + $1.failedSignificantCases },
            failedInsignificantCases: tasks.reduce(0) { $0 + $1.failedInsignificantCases })
        return Decision(verdict: verdict, errorCategory: nil, message: nil)
    }

    /// Whether a failed case counts for the verdict: a significant one
    /// always, an insignificant one only when the request asks.
    public func countsFailure(insignificant: Bool) -> Bool {
        !insignificant || countInsignificant
    }

    /// The verdict of cases that all ran: FAIL when a failure among them
    /// counts, else PASS.
    public func verdict(failedSignificantCases: Int, failedInsignificantCases: Int = 0) -> Verdict {
        let failed = failedSignificantCases + (countInsignificant ? failedInsignificantCases : 0)
        return failed > 0 ? .fail : .pass
    }
}
