import Foundation
import Logging
import OTSCore
import OTSStore
import Synchronization

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
        // A read says whether anything ran out of time: a sweep of a farm
        // with nothing due never takes the write lock. Forgetting received
        // event ids is due once a minute.
        let forget = sweeps.withLock { last in
            guard last.map({ now.timeIntervalSince($0) >= 60 || now < $0 }) ?? true else { return false }
            last = now
            return true
        }
        let due = try await store.read { tx in
            try await tx.hasSweepWork(
                at: now, queuedBefore: now.addingTimeInterval(-configuration.queueTimeout),
                claimedBefore: now.addingTimeInterval(-configuration.executionTimeout))
        }
        guard due || forget else { return report }
        try await store.transaction { tx in
            var events: [MonitorEvent] = []
            var touched: Set<String> = []
            let inputs: [(TaskRecord, TaskLifecycle.Input)] =
                try await tx.expiredLeases(at: now).map { ($0, .leaseExpired) }
                + tx.tasksWaiting(since: now.addingTimeInterval(-configuration.queueTimeout)).map {
                    ($0, .queueTimeout(seconds: Int(configuration.queueTimeout)))
                }
                + tx.tasksRunning(since: now.addingTimeInterval(-configuration.executionTimeout)).map {
                    ($0, .executionTimeout(seconds: Int(configuration.executionTimeout)))
                }
            for (task, input) in inputs {
                // A task in two lists (its lease and its time both ran
                // out) is decided once: the second finds it changed.
                let change = try await decide(input, on: task, tx: tx, at: now)
                guard change.isWritten else { continue }
                events += self.events(of: change)
                if change.action.write == .requeue {
                    report.requeued += 1
                    logger.warning("task \(task.id): \(task.owner ?? "?") stopped heartbeating; requeued (attempt \(task.attempts))")
                } else {
                    report.failed += 1
                    touched.insert(task.testrunID)
                    if case .failed(_, let message) = change.action.state { logger.warning("task \(task.id) failed: \(message)") }
                }
            }
            for testrunID in touched.sorted() {
                events += try await conclude(testrunID: testrunID, tx: tx, at: now)
            }
            for testrun in try await tx.overdueTestruns(at: now) {
                let timeout = Int(saturating: (testrun.deadline ?? now).timeIntervalSince(testrun.createdAt))
                let change = try await tx.perform(.timeout(seconds: timeout), on: testrun, at: now)
                guard change.isWritten else { continue }
                events += try await written(change, testrun: testrun, tx: tx, at: now)
                report.timedOutTestruns += 1
                logger.warning("testrun \(testrun.id) timed out after \(timeout) s")
            }
            if forget { try await tx.forgetReceivedEvents(before: now.addingTimeInterval(-86_400)) }
            try await append(events, tx: tx, at: now)
        }
        if report.requeued > 0 { signal.notify() }
        if report.failed > 0 || report.timedOutTestruns > 0 { ended.notify() }
        return report
    }
}
