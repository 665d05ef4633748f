import Foundation
import OTSCore
import SQLKit

/// A testrun as the monitor knows it from its events (`testrun.*`): its
/// device group and image, whether it is a health check, and its state.
/// The monitor keeps these itself, so that its statistics never read the
/// server's tables.
public struct MonitorTestrun: Sendable, Hashable {
    public var id: String
    public var deviceGroup: String?
    public var image: String?
    public var healthCheck: Bool
    public var state: String
    public var verdict: String?

    public init(
        id: String, deviceGroup: String?, image: String?, healthCheck: Bool = false, state: String = "queued", verdict: String? = nil
    ) {
        self.id = id
        self.deviceGroup = deviceGroup
        self.image = image
        self.healthCheck = healthCheck
        self.state = state
        self.verdict = verdict
    }
}

extension StoreTransaction {
    /// Records requested testruns (when each was requested); those
    /// already known are left as they are.
    public func recordMonitorTestruns(_ testruns: [(testrun: MonitorTestrun, at: Date)]) async throws {
        for start in stride(from: 0, to: testruns.count, by: 100) {
            var query = SQLQueryString(
                "INSERT INTO monitor_testruns (id, device_group, image, state, verdict, health_check, requested_at) VALUES ")
            for (offset, (testrun, date)) in testruns[start..<min(start + 100, testruns.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = """
                    (\(bind: testrun.id), \(bind: testrun.deviceGroup), \(bind: testrun.image), \(bind: testrun.state), \
                    \(bind: testrun.verdict), \(bind: testrun.healthCheck ? 1 : 0), \(bind: Clock.millis(date)))
                    """
                query.appendInterpolation(row)
            }
            query.appendInterpolation(unsafeRaw: " ON CONFLICT (id) DO NOTHING")
            try await db.raw(query).run()
        }
    }

    /// Moves a known testrun to `state` (an ended one stays ended).
    public func setMonitorTestrunState(id: String, state: String, verdict: String? = nil, at date: Date) async throws {
        let ended = state == "finished" || state == "cancelled"
        try await db.raw(
            """
            UPDATE monitor_testruns SET state = \(bind: state), verdict = COALESCE(\(bind: verdict), verdict),
                ended_at = \(bind: ended ? Clock.millis(date) : nil)
            WHERE id = \(bind: id) AND state NOT IN ('finished', 'cancelled')
            """
        ).run()
    }

    /// The known testruns among `ids`, by id.
    public func monitorTestruns(ids: some Collection<String>) async throws -> [String: MonitorTestrun] {
        guard !ids.isEmpty else { return [:] }
        var found: [String: MonitorTestrun] = [:]
        for row in try await db.raw(
            "SELECT id, device_group, image, health_check, state, verdict FROM monitor_testruns WHERE id IN (\(binds: Array(ids)))"
        ).all() {
            let testrun = MonitorTestrun(
                id: try row.decode(column: "id", as: String.self),
                deviceGroup: try row.decode(column: "device_group", as: String?.self),
                image: try row.decode(column: "image", as: String?.self),
                healthCheck: try row.decode(column: "health_check", as: Int.self) != 0,
                state: try row.decode(column: "state", as: String.self),
                verdict: try row.decode(column: "verdict", as: String?.self))
            found[testrun.id] = testrun
        }
        return found
    }

    /// How many testruns (health checks left out) are in each state now,
    /// for one device group when given.
    public func monitorTestrunStates(deviceGroup: String?) async throws -> [String: Int] {
        var query = SQLQueryString(
            "SELECT state, COUNT(*) AS n FROM monitor_testruns WHERE state IN ('queued', 'running') AND health_check = 0")
        if let deviceGroup { query.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " GROUP BY state")
        var states: [String: Int] = [:]
        for row in try await db.raw(query).all() {
            states[try row.decode(column: "state", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        return states
    }
}
