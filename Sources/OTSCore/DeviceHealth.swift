import Foundation

/// How fit a worker instance's device is to take work, beside its liveness
/// (online, busy, free, offline).
public enum Health: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// New, or brought back by an operator: not proven yet.
    case unknown
    case good
    /// Its device failed too often; it takes no work, only its health checks.
    case bad
    /// Put aside by an operator, or after its health checks kept failing:
    /// it waits for a person.
    case maintenance
    /// Out of the farm for good (until an operator brings it back).
    case retired

    /// Whether an instance of this health may take work.
    public var serves: Bool { self == .good || self == .unknown }

    public var description: String { rawValue }
}

/// The thresholds the farm judges devices by (`[health]` of the server's
/// configuration), and what its device group's health check is.
public struct HealthRules: Sendable, Hashable {
    /// Tasks in a row that failed with a `device` error make a device bad.
    public var badAfter = 3
    /// The number of recent tasks the failure rate is taken over.
    public var window = 20
    /// A device whose share of `device` failures over a full window is
    /// above this is bad.
    public var badRate = 0.5
    /// Failed health checks in a row that put a device in maintenance.
    public var maxHealthChecks = 3
    /// Seconds before the health check after a failed one; doubling after
    /// each failure up to `backoffMax`.
    public var backoff = 60.0
    public var backoffMax = 3600.0
    /// A good device runs its health check again after this many seconds
    /// (nil: never for time's sake).
    public var checkInterval: Double?
    /// A good device runs its health check again after this many tasks
    /// (nil: never for that).
    public var checkEvery: Int?
    /// Whether the device group has a health check.
    public var hasHealthCheck = false

    public init() {}

    /// The wait after the `failures`th failed health check in a row.
    public func backoff(afterFailures failures: Int) -> Double {
        min(backoff * pow(2, Double(max(0, failures - 1))), max(backoff, backoffMax))
    }
}

/// The health of one worker instance, as a pure state machine: given its
/// state and what happened (a task ended, the instance asks for work, a
/// health check ended, an operator's command), it returns an `Action`
/// with the new state, the change to tell of, and the health check to
/// start or cancel. The farm writes the state as one compare-and-set and
/// does what the action says; nothing here does I/O.
public struct DeviceHealth: Sendable, Hashable {
    /// A task of the instance that ended, as far as health cares.
    public struct Outcome: Sendable, Hashable, Codable {
        public var task: String
        /// It failed with a `device` error.
        public var device: Bool

        public init(task: String, device: Bool) {
            self.task = task
            self.device = device
        }
    }

    /// The end of a health check.
    public struct CheckResult: Sendable, Hashable, Codable {
        public var testrun: String
        public var verdict: Verdict
        public var at: Date

        public init(testrun: String, verdict: Verdict, at: Date) {
            self.testrun = testrun
            self.verdict = verdict
            self.at = at
        }
    }

    public struct State: Sendable, Hashable {
        public var health: Health
        /// Since when it has this health.
        public var since: Date
        /// Why it has it.
        public var reason: String
        /// The tasks or health checks that caused it.
        public var evidence: [String]
        /// The newest tasks (at most the window), oldest first.
        public var recent: [Outcome]
        /// Health checks failed in a row.
        public var failedChecks: Int
        /// No health check starts before this (the backoff).
        public var nextCheckAt: Date?
        /// The testrun of the health check under way.
        public var check: String?
        /// Tasks ended since the last health check.
        public var tasksSinceCheck: Int
        public var lastCheck: CheckResult?

        public init(
            health: Health = .unknown, since: Date, reason: String = "registered", evidence: [String] = [], recent: [Outcome] = [],
            failedChecks: Int = 0, nextCheckAt: Date? = nil, check: String? = nil, tasksSinceCheck: Int = 0, lastCheck: CheckResult? = nil
        ) {
            self.health = health
            self.since = since
            self.reason = reason
            self.evidence = evidence
            self.recent = recent
            self.failedChecks = failedChecks
            self.nextCheckAt = nextCheckAt
            self.check = check
            self.tasksSinceCheck = tasksSinceCheck
            self.lastCheck = lastCheck
        }
    }

    public enum Input: Sendable, Hashable {
        /// One of its tasks (not a health check) ended, with the category
        /// of its error when it failed.
        case taskEnded(task: String, category: ErrorCategory?)
        /// It asks for work: a health check due now starts, as the testrun
        /// `checkID`.
        case wantsWork(checkID: String)
        /// Its health check ended with this verdict.
        case checkEnded(testrun: String, verdict: Verdict)
        /// An operator puts it aside: it finishes the task it holds, then
        /// takes nothing.
        case maintenance(reason: String)
        /// An operator brings it back: it runs its health check first, when
        /// its group has one.
        case online(reason: String)
        case retire(reason: String)
    }

    /// A change of health, told as a `device.health.changed` event.
    public struct Change: Sendable, Hashable {
        public var from: Health
        public var to: Health
        public var reason: String
        public var evidence: [String]
    }

    public struct Action: Sendable, Hashable {
        /// The state after the input.
        public var state: State
        /// Whether the state changed (and so is written).
        public var write: Bool
        /// The change of health, when there is one.
        public var change: Change?
        /// A health check to start now, with this testrun id.
        public var startCheck: String?
        /// The health check to cancel (an operator put the device aside).
        public var cancelCheck: String?
        /// Why an operator's command is refused; nil when it is not.
        public var rejection: String?
    }

    /// What an instance may claim.
    public enum Claims: Sendable, Hashable {
        /// Nothing at all (maintenance, retired).
        case nothing
        /// Only its own health check (bad, or unknown with a health check).
        case healthCheck
        /// Work, its own health check first.
        case work
    }

    public let rules: HealthRules
    public private(set) var state: State

    public init(state: State, rules: HealthRules) {
        self.state = state
        self.rules = rules
    }

    /// What the instance may claim now.
    public var claims: Claims {
        switch state.health {
        case .maintenance, .retired: .nothing
        case .bad: .healthCheck
        case .unknown: rules.hasHealthCheck ? .healthCheck : .work
        case .good: .work
        }
    }

    public mutating func handle(_ input: Input, at now: Date) -> Action {
        let before = state
        var change: Change?
        var startCheck: String?
        var cancelCheck: String?

        func move(to health: Health, _ reason: String, evidence: [String]) {
            change = Change(from: state.health, to: health, reason: reason, evidence: evidence)
            state.health = health
            state.since = now
            state.reason = reason
            state.evidence = evidence
        }
        func refuse(_ reason: String) -> Action {
            Action(state: state, write: false, rejection: reason)
        }

        switch input {
        case .taskEnded(let task, let category):
            state.recent.append(Outcome(task: task, device: category == .device))
            if state.recent.count > max(1, rules.window) { state.recent.removeFirst(state.recent.count - max(1, rules.window)) }
            state.tasksSinceCheck += 1
            if state.health.serves, let (reason, evidence) = judge() {
                move(to: .bad, reason, evidence: evidence)
                state.failedChecks = 0
                state.nextCheckAt = nil
            }
        case .wantsWork(let checkID):
            switch state.health {
            case .unknown where !rules.hasHealthCheck:
                move(to: .good, "no health check is configured for its device group", evidence: [])
            case .unknown, .bad:
                if rules.hasHealthCheck, state.check == nil, state.nextCheckAt.map({ $0 <= now }) ?? true {
                    startCheck = checkID
                }
            case .good:
                if rules.hasHealthCheck, state.check == nil, periodicCheckDue(at: now) { startCheck = checkID }
            case .maintenance, .retired:
                break
            }
            if let startCheck { state.check = startCheck }
        case .checkEnded(let testrun, let verdict):
            guard state.check == testrun else { return Action(state: state, write: false) }
            state.check = nil
            state.lastCheck = CheckResult(testrun: testrun, verdict: verdict, at: now)
            state.tasksSinceCheck = 0
            guard state.health != .maintenance && state.health != .retired else { break }
            if verdict == .pass {
                state.failedChecks = 0
                state.nextCheckAt = nil
                state.recent = []
                if state.health != .good { move(to: .good, "its health check passed", evidence: [testrun]) }
            } else {
                state.failedChecks += 1
                if state.failedChecks >= max(1, rules.maxHealthChecks) {
                    move(
                        to: .maintenance,
                        "\(state.failedChecks) health checks failed in a row (max_health_checks); it waits for a person",
                        evidence: [testrun])
                    state.nextCheckAt = nil
                } else {
                    state.nextCheckAt = now.addingTimeInterval(rules.backoff(afterFailures: state.failedChecks))
                    if state.health != .bad {
                        move(to: .bad, "its health check ended \(verdict.rawValue)", evidence: [testrun])
                    }
                }
            }
        case .maintenance(let reason):
            guard state.health != .maintenance else { return refuse("is in maintenance already") }
            move(to: .maintenance, reason, evidence: [])
            cancelCheck = state.check
            state.check = nil
            state.nextCheckAt = nil
        case .retire(let reason):
            guard state.health != .retired else { return refuse("is retired already") }
            move(to: .retired, reason, evidence: [])
            cancelCheck = state.check
            state.check = nil
            state.nextCheckAt = nil
        case .online(let reason):
            guard !state.health.serves else { return refuse("is \(state.health) already: it takes work") }
            move(to: .unknown, reason, evidence: [])
            state.failedChecks = 0
            state.nextCheckAt = nil
            state.recent = []
            state.tasksSinceCheck = 0
        }
        return Action(state: state, write: state != before, change: change, startCheck: startCheck, cancelCheck: cancelCheck)
    }

    /// Whether the recent tasks make the device bad: why, and which tasks.
    private func judge() -> (String, [String])? {
        let streak = state.recent.reversed().prefix { $0.device }
        if streak.count >= max(1, rules.badAfter) {
            return (
                "\(streak.count) tasks in a row failed with device errors (bad_after = \(rules.badAfter))", streak.reversed().map(\.task)
            )
        }
        let window = max(1, rules.window)
        guard state.recent.count >= window else { return nil }
        let failed = state.recent.filter(\.device)
        guard Double(failed.count) / Double(window) > rules.badRate else { return nil }
        return (
            "\(failed.count) of the last \(window) tasks failed with device errors (more than bad_rate = \(rules.badRate))",
            failed.map(\.task)
        )
    }

    /// Whether a good device's periodic health check is due.
    private func periodicCheckDue(at now: Date) -> Bool {
        if let every = rules.checkEvery, every > 0, state.tasksSinceCheck >= every { return true }
        if let interval = rules.checkInterval, interval > 0 {
            let last = state.lastCheck?.at ?? state.since
            if now.timeIntervalSince(last) >= interval { return true }
        }
        return false
    }
}
