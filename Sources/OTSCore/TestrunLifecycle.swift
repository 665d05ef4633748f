/// The life of a testrun, as a pure state machine.
public struct TestrunLifecycle: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        /// Planned; its tasks wait for workers.
        case queued
        /// At least one task has started.
        case running
        /// Ended with a verdict (and, for ERROR, the error).
        case finished(VerdictRules.Decision)
        case cancelled

        public var isEnded: Bool {
            switch self {
            case .finished, .cancelled: true
            case .queued, .running: false
            }
        }
    }

    public enum Input: Sendable, Hashable {
        case taskStarted
        /// Every task has ended; the rules decided this.
        case tasksEnded(VerdictRules.Decision)
        case cancel
        /// The testrun's own timeout ran out.
        case timeout(seconds: Int)
    }

    public enum Action: Sendable, Hashable {
        case transition
        /// Store the new state and cancel the tasks that have not ended.
        case transitionAndCancelTasks
        case ignore
    }

    public private(set) var state: State

    public init(state: State = .queued) {
        self.state = state
    }

    public mutating func handle(_ input: Input) -> Action {
        if state.isEnded { return .ignore }
        switch input {
        case .taskStarted:
            if state == .running { return .ignore }
            state = .running
            return .transition
        case .tasksEnded(let decision):
            state = .finished(decision)
            return .transition
        case .cancel:
            state = .cancelled
            return .transitionAndCancelTasks
        case .timeout(let seconds):
            state = .finished(
                VerdictRules.Decision(verdict: .error, errorCategory: .infrastructure, message: "the testrun timed out after \(seconds) s")
            )
            return .transitionAndCancelTasks
        }
    }
}
