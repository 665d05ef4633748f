import Foundation
import OTSCore
import OTSStore

/// What one stored event adds to the statistics' rollups (pure): the
/// counts it makes, the durations it observes, the error it reports. The
/// statistics are read back from these names alone.
///
/// | event | counts | durations |
/// |---|---|---|
/// | every event | `events.TYPE` | |
/// | `testrun.requested` | `testruns.requested` (`health_checks.requested`) | |
/// | `testrun.finished` | `verdict.V` for its group and each of its workers (`health_checks.V`) | |
/// | `testrun.cancelled` | `testruns.cancelled` | |
/// | `task.claimed` | `tasks.claimed` | `queue_wait` |
/// | `task.finished` | `tasks.STATE` | |
/// | `device.flash.finished`, `device.boot.finished` | `flash.first` or `flash.retries` (`boot.…`) | `flash`, `boot` |
/// | `test.package.finished` | | `test`, `package:NAME` |
/// | `failure` | `failures.CATEGORY` | (and its signature, in the errors) |
public enum RollupRules {
    /// The phases whose durations the statistics show.
    public static let phases = ["queue_wait", "flash", "boot", "test"]

    /// The worker instance an event is about: the sender when a worker
    /// sent it, the worker it names when the server or the monitor did (no
    /// worker instance may take their names, so no worker speaks for
    /// another this way).
    public static func worker(of event: MonitorEvent) -> String? {
        if MonitorEvent.Sender.components.contains(event.sender.instance) { return event.details?["worker"] }
        return event.sender.workerID
    }

    /// When an event counts: when the server received it (the sender's
    /// clock may be wrong; the server's is the farm's).
    public static func time(of event: MonitorEvent) -> Date {
        event.receivedAt ?? event.emittedAt
    }

    /// Adds what `event` says to `rollup`; `testrun` is what the monitor
    /// knows of the event's testrun.
    public static func add(_ event: MonitorEvent, testrun: MonitorTestrun?, to rollup: inout Rollup) {
        let at = time(of: event)
        let group = testrun?.deviceGroup
        let worker = worker(of: event)
        let healthCheck = testrun?.healthCheck ?? false
        rollup.count("events.\(event.type.rawValue)", at: at, deviceGroup: group, worker: worker)
        switch event.type {
        case .testrunRequested:
            rollup.count(healthCheck ? "health_checks.requested" : "testruns.requested", at: at, deviceGroup: group)
        case .testrunFinished:
            let name = "\(healthCheck ? "health_checks" : "verdict").\(event.verdict ?? "ERROR")"
            rollup.count(name, at: at, deviceGroup: group)
            for worker in workers(of: event) {
                rollup.count(name, at: at, only: [(Rollup.all, worker)])
            }
        case .testrunCancelled:
            rollup.count(healthCheck ? "health_checks.cancelled" : "testruns.cancelled", at: at, deviceGroup: group)
        case .taskClaimed:
            rollup.count("tasks.claimed", at: at, deviceGroup: group, worker: worker)
            if let wait = event.durationMs {
                rollup.observe("queue_wait", milliseconds: wait, at: at, deviceGroup: group, worker: worker)
            }
        case .taskFinished:
            rollup.count("tasks.\(event.details?["state"] ?? "finished")", at: at, deviceGroup: group, worker: worker)
        case .flashFinished, .bootFinished:
            let phase = event.type == .flashFinished ? "flash" : "boot"
            rollup.count("\(phase).\((event.tryNumber ?? 1) > 1 ? "retries" : "first")", at: at, deviceGroup: group, worker: worker)
            if let duration = event.durationMs {
                rollup.observe(phase, milliseconds: duration, at: at, deviceGroup: group, worker: worker)
            }
        case .packageFinished:
            if let duration = event.durationMs {
                rollup.observe("test", milliseconds: duration, at: at, deviceGroup: group, worker: worker)
                if let package = event.package {
                    rollup.observe("package:\(package)", milliseconds: duration, at: at, deviceGroup: group, worker: worker)
                }
            }
        case .failure:
            guard let error = event.error else { break }
            rollup.count("failures.\(error.category.rawValue)", at: at, deviceGroup: group, worker: worker)
            rollup.failure(
                signature: error.signature, category: error.category.rawValue, message: error.message, image: testrun?.image, at: at,
                deviceGroup: group, worker: worker)
        default:
            break
        }
    }

    /// The workers an ended testrun names (`details.workers`).
    static func workers(of event: MonitorEvent) -> [String] {
        (event.details?["workers"] ?? "").split(separator: " ").map(String.init)
    }
}
