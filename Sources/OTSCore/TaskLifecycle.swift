/// The state of a task as the store keeps it and the API shows it. A task
/// that has started is still `claimed` here; the lifecycle tells claimed
/// and running apart by whether it has started.
public enum TaskState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for a worker.
    case queued
    /// Held by a worker under a lease.
    case claimed
    /// Done (with a verdict).
    case finished
    /// Ended with an error.
    case failed
    /// Cancelled before it ended.
    case cancelled

    public var isEnded: Bool { self != .queued && self != .claimed }
}

/// One event the server emits for a change of a task or a testrun, without
/// the ids the farm stamps on it (testrun, task, attempt).
public struct LifecycleEvent: Sendable, Hashable {
    public var type: EventType
    public var verdict: Verdict?
    public var error: MonitorEvent.Failure?
    public var details: [String: String]?

    public init(_ type: EventType, verdict: Verdict? = nil, error: MonitorEvent.Failure? = nil, details: [String: String]? = nil) {
        self.type = type
        self.verdict = verdict
        self.error = error
        self.details = details
    }
}

/// The life of a task, as a pure state machine: given its state and what
/// happened, it returns an `Action` that carries everything to do: the
/// write (applied as one compare-and-set against the state it was decided
/// from), the events to emit, whom to tell to stop, whether waiting claims
/// should look again. Every change of a task's state goes through here;
/// nothing here does I/O.
public struct TaskLifecycle: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case queued
        case claimed(owner: String)
        case running(owner: String)
        case finished(Verdict)
        case failed(ErrorCategory, String)
        case cancelled

        public var isEnded: Bool {
            switch self {
            case .finished, .failed, .cancelled: true
            case .queued, .claimed, .running: false
            }
        }

        /// The state as the store keeps it.
        public var stored: TaskState {
            switch self {
            case .queued: .queued
            case .claimed, .running: .claimed
            case .finished: .finished
            case .failed: .failed
            case .cancelled: .cancelled
            }
        }

        public var owner: String? {
            switch self {
            case .claimed(let owner), .running(let owner): owner
            default: nil
            }
        }
    }

    public enum Input: Sendable, Hashable {
        case claim(owner: String)
        case start(owner: String)
        /// A heartbeat of the owner: its lease is renewed.
        case heartbeat(owner: String)
        case finish(owner: String, Verdict)
        case fail(owner: String, ErrorCategory, String)
        /// The claim never reached the worker (its connection closed): the
        /// task goes back as it was, the attempt not counted.
        case putBack(owner: String, attempt: Int, reason: String)
        /// The owner's lease ran out (it stopped heartbeating).
        case leaseExpired
        /// No worker took the task in time.
        case queueTimeout(seconds: Int)
        /// The task ran longer than it may.
        case executionTimeout(seconds: Int)
        case cancel
    }

    public typealias Event = LifecycleEvent

    public struct Action: Sendable, Hashable {
        /// What the store writes, as a compare-and-set on the state the
        /// task had (its state, owner and attempts).
        public enum Write: Sendable, Hashable {
            /// Queued to claimed by the owner: a new attempt, a new lease.
            case claim(owner: String)
            /// The owner has started: the task is running.
            case start
            /// The owner's lease is extended; the state stays.
            case renewLease
            /// Back in the queue for another worker; attempts are kept and
            /// the progress of the lost attempt is cleared.
            case requeue
            /// Back in the queue as before the claim: the attempt is undone.
            case undoClaim
            /// Ended as `state` says (finished, failed or cancelled).
            case end
        }

        /// Nil: nothing is written (an ignored repeat, or a refusal).
        public var write: Write?
        /// The task's state after the action.
        public var state: State
        /// The attempt the action and its events are about.
        public var attempt: Int
        public var events: [Event]
        /// The worker to tell to stop the task (at its next heartbeat).
        public var stopOwner: String?
        /// The task is queued again: waiting claims should look.
        public var wakeClaims: Bool
        /// Why the input is refused; nil when it is not.
        public var rejection: String?

        public init(
            write: Write?, state: State, attempt: Int, events: [Event] = [], stopOwner: String? = nil, wakeClaims: Bool = false,
            rejection: String? = nil
        ) {
            self.write = write
            self.state = state
            self.attempt = attempt
            self.events = events
            self.stopOwner = stopOwner
            self.wakeClaims = wakeClaims
            self.rejection = rejection
        }

        /// A repeat of something already done: nothing to write or tell.
        public var isIgnored: Bool { write == nil && rejection == nil }
    }

    public private(set) var state: State
    /// Claims so far (the first claim is attempt 1).
    public private(set) var attempts: Int
    /// How many claims a task gets before a lost lease fails it.
    public let maxAttempts: Int
    /// Who held the task last: once it has ended, a late or repeated
    /// report of that worker is acknowledged, not refused.
    public private(set) var lastOwner: String?

    public init(state: State = .queued, attempts: Int = 0, maxAttempts: Int = 2, lastOwner: String? = nil) {
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.lastOwner = state.owner ?? lastOwner
    }

    /// Whether `worker` holds the task now (what it reports is taken).
    public func isHeld(by worker: String) -> Bool { state.owner == worker }

    /// Whether the task has ended with `worker` its last owner: a late or
    /// repeated report of that worker is acknowledged and changes nothing.
    public func hasEnded(heldLastBy worker: String) -> Bool { state.isEnded && lastOwner == worker }

    /// Applies an input; returns everything to do.
    public mutating func handle(_ input: Input) -> Action {
        switch (state, input) {
        case (.queued, .claim(let owner)):
            attempts += 1
            return move(
                to: .claimed(owner: owner), .claim(owner: owner),
                events: [Event(.taskClaimed, details: ["worker": owner]), Event(.workerBusy, details: ["worker": owner])])
        case (.claimed(let owner), .start(let sender)) where owner == sender:
            return move(to: .running(owner: owner), .start)
        case (.running(let owner), .start(let sender)) where owner == sender:
            return ignore()
        case (.claimed(let owner), .heartbeat(let sender)) where owner == sender,
            (.running(let owner), .heartbeat(let sender)) where owner == sender:
            return Action(write: .renewLease, state: state, attempt: attempts)
        case (.claimed(let owner), .finish(let sender, let verdict)) where owner == sender,
            (.running(let owner), .finish(let sender, let verdict)) where owner == sender:
            return move(
                to: .finished(verdict), .end,
                events: [
                    Event(.taskFinished, verdict: verdict, details: ["state": TaskState.finished.rawValue, "worker": owner]),
                    Event(.workerFree, details: ["worker": owner]),
                ])
        case (.claimed(let owner), .fail(let sender, let category, let message)) where owner == sender,
            (.running(let owner), .fail(let sender, let category, let message)) where owner == sender:
            // The worker reported its failure itself: no `failure` event here.
            return move(
                to: .failed(category, message), .end,
                events: [
                    Event(
                        .taskFinished, error: MonitorEvent.Failure(category: category, message: message),
                        details: ["state": TaskState.failed.rawValue, "worker": owner]),
                    Event(.workerFree, details: ["worker": owner]),
                ])
        case (.claimed(let owner), .putBack(let sender, let attempt, let reason)) where owner == sender && attempt == attempts:
            state = .queued
            attempts -= 1
            return Action(
                write: .undoClaim, state: state, attempt: attempt,
                events: [
                    Event(.taskRequeued, details: ["worker": owner, "reason": reason]), Event(.workerFree, details: ["worker": owner]),
                ], wakeClaims: true)
        case (.claimed(let owner), .leaseExpired), (.running(let owner), .leaseExpired):
            if attempts < maxAttempts {
                var action = move(
                    to: .queued, .requeue, events: [Event(.taskRequeued, details: ["worker": owner, "reason": "lease expired"])])
                action.wakeClaims = true
                return action
            }
            return fail("the worker \(owner) stopped answering (lease expired after \(attempts) attempts)")
        case (.queued, .queueTimeout(let seconds)):
            return fail("no worker took the task within \(seconds) s", timedOut: true)
        case (.claimed(let owner), .executionTimeout(let seconds)), (.running(let owner), .executionTimeout(let seconds)):
            var action = fail("the task ran longer than its \(seconds) s", timedOut: true)
            action.stopOwner = owner
            return action
        case (.queued, .cancel), (.claimed, .cancel), (.running, .cancel):
            let owner = state.owner
            var action = move(to: .cancelled, .end, events: [Event(.taskFinished, details: ["state": TaskState.cancelled.rawValue])])
            action.stopOwner = owner
            return action
        case (let current, _) where current.isEnded:
            switch input {
            // Cancelling what has ended, or a repeat of its last owner's
            // report (a resend, or a report of a task that timed out
            // meanwhile), changes nothing.
            case .cancel: return ignore()
            case .finish(let sender, _) where hasEnded(heldLastBy: sender), .fail(let sender, _, _) where hasEnded(heldLastBy: sender):
                return ignore()
            default: return reject("the task has ended")
            }
        case (.claimed(let owner), _), (.running(let owner), _):
            return reject("the task is held by \(owner)")
        case (.queued, _):
            return reject("the task is not claimed")
        default:
            return reject("not possible in this state")
        }
    }

    private mutating func move(to next: State, _ write: Action.Write, events: [Event] = []) -> Action {
        state = next
        if let owner = next.owner { lastOwner = owner }
        return Action(write: write, state: next, attempt: attempts, events: events)
    }

    /// Fails the task as an infrastructure error the server found: the
    /// failure is news, so it is told as one.
    private mutating func fail(_ message: String, timedOut: Bool = false) -> Action {
        let failure = MonitorEvent.Failure(category: .infrastructure, message: message)
        var events = timedOut ? [Event(.taskTimedOut, error: failure)] : []
        events.append(Event(.failure, error: failure))
        events.append(Event(.taskFinished, error: failure, details: ["state": TaskState.failed.rawValue]))
        return move(to: .failed(.infrastructure, message), .end, events: events)
    }

    private func ignore() -> Action { Action(write: nil, state: state, attempt: attempts) }

    private func reject(_ reason: String) -> Action { Action(write: nil, state: state, attempt: attempts, rejection: reason) }
}
