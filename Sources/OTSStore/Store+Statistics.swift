import Foundation
import OTSCore
import SQLKit

extension StoreTransaction {
    /// The farm over `since..<until`, for one device group or worker when
    /// given: what the monitor's statistics say. Read from the rollups the
    /// monitor keeps as it stores events (and the testruns and workers as
    /// they are now), never from the raw events: its cost grows with the
    /// buckets in the window, not with the events stored.
    public func statistics(since: Date, until: Date, deviceGroup: String? = nil, worker: String? = nil, commonErrors: Int = 10)
        async throws -> Statistics
    {
        let totals = try await rollupTotals(
            deviceGroup: deviceGroup, worker: worker, phases: ["queue_wait", "flash", "boot", "test"], since: since, until: until)
        var states: [String: Int] = [:]
        for record in try await workers()
        where (deviceGroup == nil || record.deviceGroup == deviceGroup) && (worker == nil || record.id == worker) {
            states[record.state, default: 0] += 1
        }
        let testruns: Statistics.Testruns
        if worker != nil {
            // A worker holds at most one testrun's task at a time; it queues none.
            testruns = Statistics.Testruns(
                total: ["PASS", "FAIL", "ERROR"].reduce(0) { $0 + totals[count: "verdict.\($1)"] }, active: states["busy", default: 0],
                queued: 0)
        } else {
            let now = try await monitorTestrunStates(deviceGroup: deviceGroup)
            testruns = Statistics.Testruns(
                total: totals[count: "testruns.requested"], active: now["running", default: 0], queued: now["queued", default: 0])
        }
        var byCategory: [String: Int] = [:]
        for (name, value) in totals.counts where name.hasPrefix("failures.") && value > 0 {
            byCategory[String(name.dropFirst("failures.".count))] = Int(clamping: value)
        }
        let common = try await rollupErrors(deviceGroup: deviceGroup, worker: worker, since: since, until: until, limit: commonErrors)
            .map { error in
                Statistics.CommonError(
                    signature: error.signature, category: ErrorCategory(rawValue: error.category), count: error.count,
                    firstSeen: error.firstSeen, lastSeen: error.lastSeen, workers: error.workers, deviceGroups: error.deviceGroups,
                    images: error.images, example: error.example)
            }
        var phases: [String: Statistics.Durations] = [:]
        for phase in ["queue_wait", "flash", "boot", "test"] {
            phases[phase] = Statistics.Durations(histogram: totals.histograms[phase] ?? LogHistogram())
        }
        var retries: [String: Statistics.Retries] = [:]
        for phase in ["flash", "boot"] {
            retries[phase] = Statistics.Retries(phases: totals[count: "\(phase).first"], retries: totals[count: "\(phase).retries"])
        }
        return Statistics(
            since: since, until: until, deviceGroup: deviceGroup, worker: worker, testruns: testruns,
            workers: Statistics.Workers(
                online: states["online", default: 0], busy: states["busy", default: 0], free: states["free", default: 0],
                offline: states["offline", default: 0]),
            verdicts: Statistics.Verdicts(
                pass: totals[count: "verdict.PASS"], fail: totals[count: "verdict.FAIL"], error: totals[count: "verdict.ERROR"]),
            errorsByCategory: byCategory, commonErrors: common, phases: phases, retries: retries)
    }

    /// The fixed cost of a task on a device group from its phase durations
    /// since `since`: the median flash try plus the median boot try, over
    /// the newest `limit` of each; nil when neither was ever recorded.
    public func taskCost(deviceGroup: String, since: Date, limit: Int = 500) async throws -> Duration? {
        func median(_ type: String) async throws -> Double? {
            let values = try await db.raw(
                """
                SELECT duration_ms FROM events
                WHERE type = \(bind: type) AND device_group = \(bind: deviceGroup) AND received_at >= \(bind: Clock.millis(since))
                  AND duration_ms IS NOT NULL
                ORDER BY received_at DESC LIMIT \(unsafeRaw: String(max(1, limit)))
                """
            ).all().map { Double(try $0.decode(column: "duration_ms", as: Int64.self)) }
            // The statistics' median (the nearest rank), so that the plan's
            // task cost and the dashboard's flash and boot times agree.
            return Percentiles(values).median
        }
        let flash = try await median("device.flash.finished")
        let boot = try await median("device.boot.finished")
        guard flash != nil || boot != nil else { return nil }
        // Stored durations are whatever was sent: the sum must not trap.
        return .milliseconds(Int64(saturating: (flash ?? 0) + (boot ?? 0)))
    }
}
