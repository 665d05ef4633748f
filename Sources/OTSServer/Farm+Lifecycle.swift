import Foundation
import OTSCore
import OTSHTTP
import OTSStore

/// Applying what the task and testrun lifecycles decide: every change of
/// state goes through `StoreTransaction.perform` (one compare-and-set
/// write), and the events each action carries are stamped here, the same
/// way for every input.
extension Farm {
    /// Performs an input on a task: the lifecycle decides, the store writes
    /// it as a compare-and-set, and the action's events come back stamped
    /// with the task's ids. A change that lost its compare-and-set (another
    /// replica decided first) is a conflict.
    func perform(_ input: TaskLifecycle.Input, on task: TaskRecord, tx: StoreTransaction, at now: Date) async throws -> (
        change: TaskChange, events: [MonitorEvent]
    ) {
        let change = try await decide(input, on: task, tx: tx, at: now)
        if change.lost { throw DomainError(.conflict, "task \(task.id) changed while this request was decided; try again") }
        return (change, change.isWritten ? events(of: change) : [])
    }

    /// The task's lifecycle under this farm's settings (attempts, lease),
    /// written by the store; the caller looks at whether it was written.
    func decide(_ input: TaskLifecycle.Input, on task: TaskRecord, tx: StoreTransaction, at now: Date) async throws -> TaskChange {
        try await tx.perform(input, on: task, maxAttempts: configuration.maxAttempts, lease: .seconds(configuration.leaseSeconds), at: now)
    }

    /// The events of a written task change, stamped with its ids.
    func events(of change: TaskChange) -> [MonitorEvent] {
        let healthCheck = Self.healthCheckOf(routingKey: change.task.routingKey)
        return change.action.events.map {
            var details = $0.details
            if let healthCheck { details = (details ?? [:]).merging([MonitorEvent.healthCheckDetail: healthCheck]) { $1 } }
            var event = event(
                $0.type, testrunID: change.task.testrunID, taskID: change.task.id, attempt: change.action.attempt,
                verdict: $0.verdict?.rawValue, error: $0.error, details: details)
            // A claim tells how long the task waited in the queue, which
            // the monitor's statistics count from the events alone.
            if $0.type == .taskClaimed, let claimed = change.task.claimedAt {
                event.durationMs = max(0, Int64(saturating: claimed.timeIntervalSince(change.task.enqueuedAt) * 1000))
            }
            return event
        }
    }

    /// The events of a written testrun change, after those of the tasks it
    /// cancels (each through its own lifecycle) when the action says so;
    /// the end of a health check is told to its instance's health.
    func written(_ change: TestrunChange, testrun: TestrunRecord, tx: StoreTransaction, at now: Date) async throws -> [MonitorEvent] {
        let testrunID = testrun.id
        if change.lost { throw DomainError(.conflict, "testrun \(testrunID) changed while this request was decided; try again") }
        guard change.isWritten else { return [] }
        var events: [MonitorEvent] = []
        if change.action.cancelTasks {
            for cancelled in try await tx.cancelTasks(testrunID: testrunID, at: now) { events += self.events(of: cancelled) }
        }
        // An ended testrun names the workers that held its tasks, so that
        // the monitor counts its verdict for each of them too.
        var workers: String?
        if change.action.events.contains(where: { [.testrunFinished, .testrunCancelled, .testrunTimedOut].contains($0.type) }) {
            workers = Set(try await tx.tasks(testrunID: testrunID).compactMap(\.owner)).sorted().joined(separator: " ")
        }
        for item in change.action.events {
            var details = item.details
            if let workers, !workers.isEmpty, [.testrunFinished, .testrunCancelled, .testrunTimedOut].contains(item.type) {
                details = (details ?? [:]).merging(["workers": workers]) { old, _ in old }
            }
            if let worker = testrun.healthCheck { details = (details ?? [:]).merging([MonitorEvent.healthCheckDetail: worker]) { $1 } }
            events.append(event(item.type, testrunID: testrunID, verdict: item.verdict?.rawValue, error: item.error, details: details))
        }
        events += try await healthCheckEnded(testrun, state: change.action.state, tx: tx, at: now)
        return events
    }
}
