/// The state of a testrun as the store keeps it and the API shows it.
public enum TestrunState: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Planned; its tasks wait for workers.
    case queued
    /// At least one task has started.
    case running
    /// Ended with a verdict.
    case finished
    case cancelled

    public var isEnded: Bool { self == .finished || self == .cancelled }

    public var description: String { rawValue }
}

/// The life of a testrun, as a pure state machine: like `TaskLifecycle`,
/// each input returns an `Action` with everything to do, and the farm
/// writes it as one compare-and-set on the state it was decided from.
public struct TestrunLifecycle: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case queued
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

        /// The state as the store keeps it.
        public var stored: TestrunState {
            switch self {
            case .queued: .queued
            case .running: .running
            case .finished: .finished
            case .cancelled: .cancelled
            }
        }
    }

    public enum Input: Sendable, Hashable {
        case taskStarted
        /// Every task has ended; the rules decided this. `errorIsNew`: the
        /// decision's error is the testrun's own (a package without
        /// results), not one a task reported where it happened.
        case tasksEnded(VerdictRules.Decision, errorIsNew: Bool)
        case cancel
        /// The testrun's own timeout ran out.
        case timeout(seconds: Int)
    }

    public struct Action: Sendable, Hashable {
        public enum Write: Sendable, Hashable {
            /// Running, with its start time.
            case start
            /// Ended as `state` says, with its end time.
            case end
        }

        /// Nil: nothing is written.
        public var write: Write?
        public var state: State
        /// The testrun's own events, told after those of its tasks.
        public var events: [LifecycleEvent]
        /// Cancel the tasks that have not ended (each through its own
        /// lifecycle).
        public var cancelTasks: Bool
        public var rejection: String?

        public init(
            write: Write?, state: State, events: [LifecycleEvent] = [], cancelTasks: Bool = false, rejection: String? = nil
        ) {
            self.write = write
            self.state = state
            self.events = events
            self.cancelTasks = cancelTasks
            self.rejection = rejection
        }

        public var isIgnored: Bool { write == nil && rejection == nil }
    }

    public private(set) var state: State

    public init(state: State = .queued) {
        self.state = state
    }

    public mutating func handle(_ input: Input) -> Action {
        if state.isEnded {
            if case .cancel = input { return Action(write: nil, state: state, rejection: "has ended (\(state.stored))") }
            return Action(write: nil, state: state)
        }
        switch input {
        case .taskStarted:
            if state == .running { return Action(write: nil, state: state) }
            state = .running
            return Action(write: .start, state: state, events: [LifecycleEvent(.testrunStarted)])
        case .tasksEnded(let decision, let errorIsNew):
            state = .finished(decision)
            let failure = decision.errorCategory.map { MonitorEvent.Failure(category: $0, message: decision.message ?? "") }
            var events: [LifecycleEvent] = []
            if errorIsNew, decision.errorCategory != nil, decision.message != nil, let failure {
                events.append(LifecycleEvent(.failure, error: failure))
            }
            events.append(LifecycleEvent(.testrunFinished, verdict: decision.verdict, error: failure))
            return Action(write: .end, state: state, events: events)
        case .cancel:
            state = .cancelled
            return Action(write: .end, state: state, events: [LifecycleEvent(.testrunCancelled)], cancelTasks: true)
        case .timeout(let seconds):
            let decision = VerdictRules.Decision(
                verdict: .error, errorCategory: .infrastructure, message: "the testrun timed out after \(seconds) s")
            state = .finished(decision)
            let failure = MonitorEvent.Failure(category: .infrastructure, message: decision.message ?? "timed out")
            return Action(
                write: .end, state: state,
                events: [
                    LifecycleEvent(.testrunTimedOut, error: failure), LifecycleEvent(.failure, error: failure),
                    LifecycleEvent(.testrunFinished, verdict: .error, error: failure),
                ], cancelTasks: true)
        }
    }
}
