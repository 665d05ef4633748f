import Foundation
import OTSCore
import SQLKit

extension StoreTransaction {
    /// The farm over `since...until`, for one device group or worker when
    /// given: what the monitor's statistics say.
    public func statistics(since: Date, until: Date, deviceGroup: String? = nil, worker: String? = nil, commonErrors: Int = 10)
        async throws -> Statistics
    {
        let from = Clock.millis(since)
        let to = Clock.millis(until)
        func count(_ query: SQLQueryString) async throws -> Int {
            try await db.raw(query).first()?.decode(column: "n", as: Int?.self) ?? 0
        }
        // Filters on events: by the testrun's device group, by the sender.
        var eventFilter = SQLQueryString(" AND received_at >= \(bind: from) AND received_at <= \(bind: to)")
        if let deviceGroup { eventFilter.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        if let worker { eventFilter.appendInterpolation(" AND worker = \(bind: worker)" as SQLQueryString) }
        // Health checks are the farm's own testruns: its verdicts leave them out.
        var testrunFilter = SQLQueryString(" AND health_check IS NULL")
        if let deviceGroup { testrunFilter.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        if let worker {
            testrunFilter.appendInterpolation(
                " AND id IN (SELECT testrun_id FROM tasks WHERE owner = \(bind: worker))" as SQLQueryString)
        }

        let testruns = Statistics.Testruns(
            total: try await count(
                "SELECT COUNT(*) AS n FROM testruns WHERE created_at >= \(bind: from) AND created_at <= \(bind: to)\(testrunFilter)"),
            active: try await count("SELECT COUNT(*) AS n FROM testruns WHERE state = 'running'\(testrunFilter)"),
            queued: try await count("SELECT COUNT(*) AS n FROM testruns WHERE state = 'queued'\(testrunFilter)")
        )

        var verdicts: [String: Int] = [:]
        for row in try await db.raw(
            """
            SELECT verdict, COUNT(*) AS n FROM testruns
            WHERE state = 'finished' AND finished_at >= \(bind: from) AND finished_at <= \(bind: to)\(testrunFilter)
            GROUP BY verdict
            """
        ).all() {
            verdicts[try row.decode(column: "verdict", as: String?.self) ?? ""] = try row.decode(column: "n", as: Int.self)
        }

        var states: [String: Int] = [:]
        for record in try await workers()
        where (deviceGroup == nil || record.deviceGroup == deviceGroup) && (worker == nil || record.id == worker) {
            states[record.state, default: 0] += 1
        }

        var byCategory: [String: Int] = [:]
        for row in try await db.raw(
            "SELECT category, COUNT(*) AS n FROM events WHERE type = 'failure' AND category IS NOT NULL\(eventFilter) GROUP BY category"
        ).all() {
            byCategory[try row.decode(column: "category", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }

        var common: [Statistics.CommonError] = []
        for row in try await db.raw(
            """
            SELECT signature, COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last FROM events
            WHERE type = 'failure' AND signature IS NOT NULL\(eventFilter)
            GROUP BY signature ORDER BY n DESC, signature LIMIT \(unsafeRaw: String(max(1, commonErrors)))
            """
        ).all() {
            let signature = try row.decode(column: "signature", as: String.self)
            var scope = SQLQueryString(" FROM events WHERE type = 'failure' AND signature = \(bind: signature)")
            scope.appendInterpolation(eventFilter)
            var workersQuery = SQLQueryString("SELECT DISTINCT worker AS value")
            workersQuery.appendInterpolation(scope)
            var groupsQuery = SQLQueryString("SELECT DISTINCT device_group AS value")
            groupsQuery.appendInterpolation(scope)
            var exampleQuery = SQLQueryString("SELECT category, payload")
            exampleQuery.appendInterpolation(scope)
            exampleQuery.appendInterpolation(unsafeRaw: " ORDER BY received_at DESC LIMIT 1")
            let workers = try await db.raw(workersQuery).all().compactMap { try $0.decode(column: "value", as: String?.self) }
            let groups = try await db.raw(groupsQuery).all().compactMap { try $0.decode(column: "value", as: String?.self) }
            var testrunsQuery = SQLQueryString("SELECT DISTINCT testrun_id AS value")
            testrunsQuery.appendInterpolation(scope)
            testrunsQuery.appendInterpolation(unsafeRaw: " LIMIT 1000")
            let struck = try await db.raw(testrunsQuery).all().compactMap { try $0.decode(column: "value", as: String?.self) }
            var images: Set<String> = []
            if !struck.isEmpty {
                for row in try await db.raw("SELECT request FROM testruns WHERE id IN (\(binds: struck))").all() {
                    let request = try? JSONCoding.decoder().decode(
                        TestrunRequest.self, from: Data(try row.decode(column: "request", as: String.self).utf8))
                    if let image = request?.image { images.insert(image) }
                }
            }
            let newest = try await db.raw(exampleQuery).first()
            let category = try newest?.decode(column: "category", as: String?.self).flatMap(ErrorCategory.init(rawValue:))
            let example =
                (try newest?.decode(column: "payload", as: String.self)).flatMap {
                    try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.utf8))
                }?.error?.message ?? ""
            common.append(
                Statistics.CommonError(
                    signature: signature, category: category, count: try row.decode(column: "n", as: Int.self),
                    firstSeen: Clock.date(try row.decode(column: "first", as: Int64.self)),
                    lastSeen: Clock.date(try row.decode(column: "last", as: Int64.self)),
                    workers: workers.sorted(), deviceGroups: groups.sorted(), images: images.sorted(), example: example))
        }

        func durations(_ type: String, extra: SQLQueryString = "") async throws -> [Double] {
            var query = SQLQueryString(
                "SELECT duration_ms FROM events WHERE type = \(bind: type) AND duration_ms IS NOT NULL\(eventFilter)")
            query.appendInterpolation(extra)
            return try await db.raw(query).all().map { Double(try $0.decode(column: "duration_ms", as: Int64.self)) / 1000 }
        }
        var waits = SQLQueryString(
            "SELECT t.claimed_at - t.enqueued_at AS wait FROM tasks t JOIN testruns r ON r.id = t.testrun_id WHERE t.claimed_at >= \(bind: from) AND t.claimed_at <= \(bind: to)"
        )
        if let deviceGroup { waits.appendInterpolation(" AND r.device_group = \(bind: deviceGroup)" as SQLQueryString) }
        if let worker { waits.appendInterpolation(" AND t.owner = \(bind: worker)" as SQLQueryString) }
        let queueWaits = try await db.raw(waits).all().map { Double(try $0.decode(column: "wait", as: Int64.self)) / 1000 }
        let phases: [String: Statistics.Durations] = [
            "queue_wait": Statistics.Durations(seconds: queueWaits),
            "flash": Statistics.Durations(seconds: try await durations("device.flash.finished")),
            "boot": Statistics.Durations(seconds: try await durations("device.boot.finished")),
            "test": Statistics.Durations(seconds: try await durations("test.package.finished")),
        ]

        var retries: [String: Statistics.Retries] = [:]
        for (phase, type) in [("flash", "device.flash.finished"), ("boot", "device.boot.finished")] {
            let row = try await db.raw(
                """
                SELECT SUM(CASE WHEN try_number = 1 THEN 1 ELSE 0 END) AS first, SUM(CASE WHEN try_number > 1 THEN 1 ELSE 0 END) AS again
                FROM events WHERE type = \(bind: type)\(eventFilter)
                """
            ).first()
            retries[phase] = Statistics.Retries(
                phases: try row?.decode(column: "first", as: Int?.self) ?? 0, retries: try row?.decode(column: "again", as: Int?.self) ?? 0)
        }

        return Statistics(
            since: since, until: until, deviceGroup: deviceGroup, worker: worker, testruns: testruns,
            workers: Statistics.Workers(
                online: states["online", default: 0], busy: states["busy", default: 0], free: states["free", default: 0],
                offline: states["offline", default: 0]),
            verdicts: Statistics.Verdicts(
                pass: verdicts["PASS", default: 0], fail: verdicts["FAIL", default: 0], error: verdicts["ERROR", default: 0]),
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
            ).all().map { Double(try $0.decode(column: "duration_ms", as: Int64.self)) }.sorted()
            guard !values.isEmpty else { return nil }
            let middle = values.count / 2
            return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
        }
        let flash = try await median("device.flash.finished")
        let boot = try await median("device.boot.finished")
        guard flash != nil || boot != nil else { return nil }
        // Stored durations are whatever was sent: the sum must not trap.
        return .milliseconds(Int64(saturating: (flash ?? 0) + (boot ?? 0)))
    }
}
