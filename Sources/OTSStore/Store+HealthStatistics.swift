import Foundation
import OTSCore
import SQLKit

/// The devices' health as the monitor knows it, from the events it stored
/// (never from the server's tables): each instance's health now, and its
/// figures over a window (`HealthStatistics`).
extension StoreTransaction {
    /// The newest stored `device.health.changed` event of each instance
    /// (of `workers` when given), by worker id.
    public func latestHealthEvents(workers: [String]? = nil) async throws -> [String: MonitorEvent] {
        var latest: [String: MonitorEvent] = [:]
        for (worker, event) in try await healthEvents(workers: workers, until: nil) { latest[worker] = event }
        return latest
    }

    /// Stored `device.health.changed` events up to `until`, in the order
    /// they happened, with their instance.
    func healthEvents(workers: [String]?, until: Date?) async throws -> [(worker: String, event: MonitorEvent)] {
        if let workers, workers.isEmpty { return [] }
        var query = SQLQueryString("SELECT worker, payload FROM events WHERE type = \(bind: EventType.deviceHealthChanged.rawValue)")
        if let workers { query.appendInterpolation(" AND worker IN (\(binds: workers))" as SQLQueryString) }
        if let until { query.appendInterpolation(" AND received_at <= \(bind: Clock.millis(until))" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY COALESCE(seq, 0), received_at, id")
        let decoder = JSONCoding.decoder()
        return try await db.raw(query).all().compactMap { row in
            guard let worker = try row.decode(column: "worker", as: String?.self),
                let event = try? decoder.decode(MonitorEvent.self, from: Data(try row.decode(column: "payload", as: String.self).utf8))
            else { return nil }
            return (worker, event)
        }
    }

    /// The devices' figures over `since...until`, of one device group or
    /// instance when given.
    public func healthStatistics(since: Date, until: Date, deviceGroup: String? = nil, worker: String?) async throws
        -> HealthStatistics
    {
        try await healthStatistics(since: since, until: until, deviceGroup: deviceGroup, workers: worker.map { [$0] })
    }

    /// The devices' figures over `since...until`, of one device group and
    /// of some instances when given.
    public func healthStatistics(since: Date, until: Date, deviceGroup: String? = nil, workers: [String]? = nil) async throws
        -> HealthStatistics
    {
        var timelines: [String: HealthStatistics.Timeline] = [:]
        for (id, event) in try await healthEvents(workers: workers, until: until) {
            guard let change = event.healthChange, let group = event.details?["devicegroup"] else { continue }
            var timeline = timelines[id] ?? HealthStatistics.Timeline(worker: id, deviceGroup: group)
            timeline.health.append((event.receivedAt ?? event.emittedAt, change.to))
            timelines[id] = timeline
        }
        if let deviceGroup { timelines = timelines.filter { $0.value.deviceGroup == deviceGroup } }
        let ids = timelines.keys.sorted()
        guard !ids.isEmpty else { return HealthStatistics(instances: [], groups: []) }
        let (from, to) = (Clock.millis(since), Clock.millis(until))

        // Liveness: the last change before the window, and those in it.
        let liveness = try await db.raw(
            """
            SELECT worker, type, received_at FROM events e
            WHERE type IN ('worker.online', 'worker.offline') AND worker IN (\(binds: ids)) AND received_at <= \(bind: to)
              AND (received_at >= \(bind: from) OR received_at = (
                SELECT MAX(received_at) FROM events b WHERE b.worker = e.worker AND b.type IN ('worker.online', 'worker.offline')
                  AND b.received_at < \(bind: from)))
            ORDER BY received_at, COALESCE(seq, 0)
            """
        ).all()
        for row in liveness {
            let id = try row.decode(column: "worker", as: String.self)
            timelines[id]?.liveness.append(
                (
                    Clock.date(try row.decode(column: "received_at", as: Int64.self)),
                    try row.decode(column: "type", as: String.self) == "worker.online"
                ))
        }

        // Health checks: their testruns (requested up to a day before the
        // window, for checks that ran across its start), and their ends.
        let checks = try await db.raw(
            """
            SELECT type, testrun_id, payload FROM events
            WHERE type IN ('testrun.requested', 'testrun.finished') AND received_at >= \(bind: from - 86_400_000)
              AND received_at <= \(bind: to) AND payload LIKE '%"health_check"%'
            """
        ).all()
        var checkTestruns: Set<String> = []
        let decoder = JSONCoding.decoder()
        for row in checks {
            guard let testrun = try row.decode(column: "testrun_id", as: String?.self) else { continue }
            checkTestruns.insert(testrun)
            guard try row.decode(column: "type", as: String.self) == "testrun.finished",
                let event = try? decoder.decode(MonitorEvent.self, from: Data(try row.decode(column: "payload", as: String.self).utf8)),
                let id = event.healthCheckOf, (event.receivedAt ?? event.emittedAt) >= since
            else { continue }
            timelines[id]?.healthChecks += 1
            if event.verdict == Verdict.pass.rawValue { timelines[id]?.healthChecksPassed += 1 }
        }

        // Tasks started, and device failures, health checks left out.
        let work = try await db.raw(
            """
            SELECT worker, type, testrun_id FROM events
            WHERE worker IN (\(binds: ids)) AND received_at >= \(bind: from) AND received_at <= \(bind: to)
              AND (type = 'task.started' OR (type = 'failure' AND category = 'device'))
            """
        ).all()
        for row in work {
            if let testrun = try row.decode(column: "testrun_id", as: String?.self), checkTestruns.contains(testrun) { continue }
            let id = try row.decode(column: "worker", as: String.self)
            if try row.decode(column: "type", as: String.self) == "task.started" {
                timelines[id]?.tasks += 1
            } else {
                timelines[id]?.deviceFailures += 1
            }
        }
        return HealthStatistics.compute(Array(timelines.values), since: since, until: until)
    }
}
