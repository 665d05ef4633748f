import Foundation
import OTSStore
import SQLKit

/// What `ots bench load` checks after its load: how often each task was
/// claimed, how long tasks waited, and how many events of each type the
/// event store holds, for how many tasks or testruns.
public struct LoadAudit: Sendable {
    public struct Count: Sendable, Hashable {
        public var events: Int
        /// Distinct tasks (or, for testrun events, testruns) they are about.
        public var subjects: Int
    }

    public var tasks: Int
    public var claimedMoreThanOnce: Int
    /// Enqueued → claimed, seconds, sorted.
    public var queueWaits: [Double]
    public var events: [String: Count]
    /// Claimed (server) → started (worker), seconds, sorted.
    public var claimToStart: [Double]
}

extension StoreTransaction {
    public func loadAudit() async throws -> LoadAudit {
        let rows = try await db.raw("SELECT attempts, claimed_at - enqueued_at AS wait FROM tasks").all()
        var events: [String: LoadAudit.Count] = [:]
        for row in try await db.raw(
            "SELECT type, COUNT(*) AS n, COUNT(DISTINCT COALESCE(task_id, testrun_id)) AS d FROM events GROUP BY type"
        ).all() {
            events[try row.decode(column: "type", as: String.self)] = LoadAudit.Count(
                events: try row.decode(column: "n", as: Int.self), subjects: try row.decode(column: "d", as: Int.self))
        }
        let starts = try await db.raw(
            """
            SELECT s.emitted_at - c.received_at AS d FROM events s JOIN events c
            ON c.task_id = s.task_id AND c.type = 'task.claimed' WHERE s.type = 'task.started'
            """
        ).all()
        return LoadAudit(
            tasks: rows.count,
            claimedMoreThanOnce: try rows.filter { try $0.decode(column: "attempts", as: Int.self) != 1 }.count,
            queueWaits: try rows.compactMap { try $0.decode(column: "wait", as: Int64?.self) }.map { Double($0) / 1000 }.sorted(),
            events: events,
            claimToStart: try starts.map { Double(try $0.decode(column: "d", as: Int64.self)) / 1000 }.sorted())
    }
}
