/// The life of a task, as a pure state machine: given its state and what
/// happened, it says the next state and what to do. The server applies the
/// action to the store; nothing here does I/O.
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
    }

    public enum Input: Sendable, Hashable {
        case claim(owner: String)
        case start(owner: String)
        case heartbeat(owner: String)
        case finish(owner: String, Verdict)
        case fail(owner: String, ErrorCategory, String)
        /// The owner's lease ran out (it stopped heartbeating).
        case leaseExpired
        /// No worker took the task in time.
        case queueTimeout(seconds: Int)
        /// The task ran longer than it may.
        case executionTimeout(seconds: Int)
        case cancel
    }

    public enum Action: Sendable, Hashable {
        /// Store the new state.
        case transition
        /// Store the new state and tell the owner to stop.
        case transitionAndStopOwner(String)
        /// Renew the owner's lease.
        case renewLease
        /// Put the task back in the queue for another worker.
        case requeue
        /// Nothing to do: a repeat of something already done.
        case ignore
        /// Refuse: the sender may not do this now (it names why).
        case reject(String)
    }

    public private(set) var state: State
    /// Claims so far (the first claim is attempt 1).
    public private(set) var attempts: Int
    /// How many claims a task gets before a lost lease fails it.
    public let maxAttempts: Int

    public init(state: State = .queued, attempts: Int = 0, maxAttempts: Int = 2) {
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
    }

    /// Applies an input; returns what to do.
    public mutating func handle(_ input: Input) -> Action {
        switch (state, input) {
        case (.queued, .claim(let owner)):
            attempts += 1
            state = .claimed(owner: owner)
            return .transition
        case (.claimed(let owner), .start(let sender)) where owner == sender:
            state = .running(owner: owner)
            return .transition
        case (.running(let owner), .start(let sender)) where owner == sender:
            return .ignore
        case (.claimed(let owner), .heartbeat(let sender)) where owner == sender,
            (.running(let owner), .heartbeat(let sender)) where owner == sender:
            return .renewLease
        case (.claimed(let owner), .finish(let sender, let verdict)) where owner == sender,
            (.running(let owner), .finish(let sender, let verdict)) where owner == sender:
            state = .finished(verdict)
            return .transition
        case (.claimed(let owner), .fail(let sender, let category, let message)) where owner == sender,
            (.running(let owner), .fail(let sender, let category, let message)) where owner == sender:
            state = .failed(category, message)
            return .transition
        case (.claimed(let owner), .leaseExpired), (.running(let owner), .leaseExpired):
            if attempts < maxAttempts {
                state = .queued
                return .requeue
            }
            state = .failed(.infrastructure, "the worker \(owner) stopped answering (lease expired after \(attempts) attempts)")
            return .transition
        case (.queued, .queueTimeout(let seconds)):
            state = .failed(.infrastructure, "no worker took the task within \(seconds) s")
            return .transition
        case (.claimed(let owner), .executionTimeout(let seconds)), (.running(let owner), .executionTimeout(let seconds)):
            state = .failed(.infrastructure, "the task ran longer than its \(seconds) s")
            return .transitionAndStopOwner(owner)
        case (.queued, .cancel):
            state = .cancelled
            return .transition
        case (.claimed(let owner), .cancel), (.running(let owner), .cancel):
            state = .cancelled
            return .transitionAndStopOwner(owner)
        case (let current, _) where current.isEnded:
            // Late or repeated messages about an ended task change nothing.
            if case .finish = input, case .finished = current { return .ignore }
            if case .cancel = input { return .ignore }
            return .reject("the task has ended")
        case (.claimed(let owner), _), (.running(let owner), _):
            return .reject("the task is held by \(owner)")
        case (.queued, _):
            return .reject("the task is not claimed")
        default:
            return .reject("not possible in this state")
        }
    }
}
