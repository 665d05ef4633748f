import Foundation
import TestDefinition

/// What a run reports while it runs: for progress lines, and for the
/// monitor events of an OTS worker.
public enum RunEvent: Sendable {
    case setStarted(suite: String, set: String)
    case stepFinished(suite: String, set: String, case: String?, step: StepResult)
    case caseFinished(suite: String, set: String, result: CaseResult)
    case setFinished(suite: String, set: String, result: SetResult, duration: Duration)
    /// Something went wrong that is not a test result (a fetch failed,
    /// a measurement file did not parse).
    case warning(String)
}
