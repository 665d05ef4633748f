import Foundation
import Logging
import OTSCore
import OTSStore

extension Farm {
    /// What one sweep did.
    public struct SweepReport: Sendable, Hashable {
        public var requeued = 0
        public var failed = 0
        public var timedOutTestruns = 0
    }

    /// Ends what has run out of time: leases of vanished workers (requeued
    /// while attempts are left, failed after), tasks no worker took in time,
    /// tasks that ran too long, and testruns past their deadline. Safe to
    /// run from several replicas at once.
    @discardableResult
    public func sweep(at now: Date = Date()) async throws -> SweepReport {
        var report = SweepReport()
        try await store.transaction { tx in
            var events: [MonitorEvent] = []
            var touched: Set<String> = []
            for task in try await tx.expiredLeases(at: now) {
                var lifecycle = TaskLifecycle(record: task, maxAttempts: configuration.maxAttempts)
                switch lifecycle.handle(.leaseExpired) {
                case .requeue:
                    _ = try await tx.requeue(taskID: task.id, at: now)
                    report.requeued += 1
                    events.append(
                        event(
                            .taskRequeued, testrunID: task.testrunID, taskID: task.id, attempt: task.attempts,
                            details: ["worker": task.owner ?? "", "reason": "lease expired"]
                        )
                    )
                    logger.warning("task \(task.id): \(task.owner ?? "?") stopped heartbeating; requeued (attempt \(task.attempts))")
                default:
                    if case .failed(let category, let message) = lifecycle.state {
                        events += try await fail(task, category: category, message: message, tx: tx, at: now)
                        touched.insert(task.testrunID)
                        report.failed += 1
                    }
                }
            }
            let overdue: [(TaskRecord, TaskLifecycle.Input)] =
                try await tx.tasksWaiting(since: now.addingTimeInterval(-configuration.queueTimeout)).map {
                    ($0, .queueTimeout(seconds: Int(configuration.queueTimeout)))
                }
                + tx.tasksRunning(since: now.addingTimeInterval(-configuration.executionTimeout)).map {
                    ($0, .executionTimeout(seconds: Int(configuration.executionTimeout)))
                }
            for (task, timeout) in overdue {
                var lifecycle = TaskLifecycle(record: task, maxAttempts: configuration.maxAttempts)
                _ = lifecycle.handle(timeout)
                if case .failed(let category, let message) = lifecycle.state {
                    events += try await fail(task, category: category, message: message, timedOut: true, tx: tx, at: now)
                    touched.insert(task.testrunID)
                    report.failed += 1
                }
            }
            for testrunID in touched.sorted() {
                events += try await conclude(testrunID: testrunID, tx: tx, at: now)
            }
            for testrun in try await tx.overdueTestruns(at: now) {
                var lifecycle = TestrunLifecycle(record: testrun)
                let timeout = Int(saturating: (testrun.deadline ?? now).timeIntervalSince(testrun.createdAt))
                guard lifecycle.handle(.timeout(seconds: timeout)) == .transitionAndCancelTasks,
                    case .finished(let decision) = lifecycle.state
                else { continue }
                try await tx.updateTestrun(
                    id: testrun.id, state: "finished", verdict: decision.verdict.rawValue, errorCategory: decision.errorCategory?.rawValue,
                    errorMessage: decision.message, finished: true, at: now
                )
                for task in try await tx.cancelTasks(testrunID: testrun.id, at: now) {
                    events.append(event(.taskFinished, testrunID: testrun.id, taskID: task.id, details: ["state": "cancelled"]))
                }
                let failure = MonitorEvent.Failure(
                    category: decision.errorCategory ?? .infrastructure, message: decision.message ?? "timed out")
                events.append(event(.testrunTimedOut, testrunID: testrun.id, error: failure))
                events.append(event(.failure, testrunID: testrun.id, error: failure))
                events.append(event(.testrunFinished, testrunID: testrun.id, verdict: decision.verdict.rawValue, error: failure))
                report.timedOutTestruns += 1
                logger.warning("testrun \(testrun.id) timed out after \(timeout) s")
            }
            try await tx.forgetReceivedEvents(before: now.addingTimeInterval(-86_400))
            try await append(events, tx: tx, at: now)
        }
        if report.requeued > 0 { signal.notify() }
        return report
    }

    private func fail(
        _ task: TaskRecord, category: ErrorCategory, message: String, timedOut: Bool = false, tx: StoreTransaction, at now: Date
    ) async throws -> [MonitorEvent] {
        guard
            let ended = try await tx.endTask(
                taskID: task.id, state: .failed, errorCategory: category.rawValue, errorMessage: message, at: now)
        else { return [] }
        logger.warning("task \(task.id) failed: \(message)")
        let failure = MonitorEvent.Failure(category: category, message: message)
        var events: [MonitorEvent] = []
        if timedOut {
            events.append(event(.taskTimedOut, testrunID: ended.testrunID, taskID: ended.id, attempt: ended.attempts, error: failure))
        }
        events.append(event(.failure, testrunID: ended.testrunID, taskID: ended.id, attempt: ended.attempts, error: failure))
        events.append(
            event(
                .taskFinished, testrunID: ended.testrunID, taskID: ended.id, attempt: ended.attempts, error: failure,
                details: ["state": "failed"]))
        return events
    }
}
