import Foundation
import OTSCore
import SQLKit

/// What the monitor's dashboard reads besides statistics: the newest
/// events of some workers or of one error, and tasks by id.
extension StoreTransaction {
    /// Stored events, newest first: of the given types, sent by one of
    /// `workers` or about one of `taskIDs` when given, with `signature`
    /// when given.
    public func newestEvents(
        types: [String], workers: [String]? = nil, taskIDs: [String] = [], signature: String? = nil, limit: Int = 50
    ) async throws -> [EventRecord] {
        guard !types.isEmpty else { return [] }
        var query = SQLQueryString(
            "SELECT id, type, emitted_at, received_at, testrun_id, task_id, worker, signature, payload, seq, device_group FROM events WHERE type IN (\(binds: types))"
        )
        if let workers {
            guard !workers.isEmpty || !taskIDs.isEmpty else { return [] }
            var alternatives: [SQLQueryString] = []
            if !workers.isEmpty { alternatives.append("worker IN (\(binds: workers))") }
            if !taskIDs.isEmpty { alternatives.append("task_id IN (\(binds: taskIDs))") }
            query.appendInterpolation(" AND (" as SQLQueryString)
            for (index, alternative) in alternatives.enumerated() {
                if index > 0 { query.appendInterpolation(" OR " as SQLQueryString) }
                query.appendInterpolation(alternative)
            }
            query.appendInterpolation(")" as SQLQueryString)
        }
        if let signature { query.appendInterpolation(" AND signature = \(bind: signature)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY received_at DESC, id DESC LIMIT \(max(1, min(limit, 10_000)))")
        return try await db.raw(query).all().map { row in
            var event = try Self.event(row)
            event.deviceGroup = try row.decode(column: "device_group", as: String?.self)
            return event
        }
    }

    /// Per worker, over a window: first tries and retries of flash and boot,
    /// and failures; from the rollups, in one query for a worker page.
    public func tries(workers: [String], since: Date, until: Date = Date()) async throws -> [String: WorkerTries] {
        guard !workers.isEmpty else { return [:] }
        var query = SQLQueryString(
            """
            SELECT worker, name, CAST(SUM(value) AS BIGINT) AS n FROM rollup_counts
            WHERE device_group = '*' AND worker IN (\(binds: workers))
              AND name IN ('flash.first', 'flash.retries', 'boot.first', 'boot.retries', 'events.failure') AND
            """)
        query.appendInterpolation(overlapping(since: since, until: until))
        query.appendInterpolation(unsafeRaw: " GROUP BY worker, name")
        var tries: [String: WorkerTries] = [:]
        for row in try await db.raw(query).all() {
            let worker = try row.decode(column: "worker", as: String.self)
            let value = Int(clamping: try row.decode(column: "n", as: Int64.self))
            switch try row.decode(column: "name", as: String.self) {
            case "flash.first": tries[worker, default: WorkerTries()].flash.first = value
            case "flash.retries": tries[worker, default: WorkerTries()].flash.retries = value
            case "boot.first": tries[worker, default: WorkerTries()].boot.first = value
            case "boot.retries": tries[worker, default: WorkerTries()].boot.retries = value
            default: tries[worker, default: WorkerTries()].failures = value
            }
        }
        return tries
    }

    /// How often an error was seen while rollups are kept, and first and
    /// last; from the rollups.
    public func occurrences(signature: String, now: Date = Date()) async throws -> (count: Int, first: Date?, last: Date?) {
        let since = now.addingTimeInterval(-StatisticsWindow.longestRange)
        guard
            let error = try await rollupErrors(signature: signature, since: since, until: now.addingTimeInterval(60), limit: 1).first
        else { return (0, nil, nil) }
        return (error.count, error.firstSeen, error.lastSeen)
    }

    /// The queue position of the newest stored event (0 when none).
    public func newestEventSequence() async throws -> Int64 {
        try await db.raw("SELECT MAX(seq) AS seq FROM events").first()?.decode(column: "seq", as: Int64?.self) ?? 0
    }

    /// The tasks with these ids, in no particular order.
    public func tasks(ids: [String]) async throws -> [TaskRecord] {
        guard !ids.isEmpty else { return [] }
        return try await db.raw("SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE id IN (\(binds: ids))").all().map(Self.task)
    }

    /// The device groups that workers serve or testruns asked for lately.
    public func deviceGroups() async throws -> [String] {
        let rows = try await db.raw(
            """
            SELECT device_group FROM workers
            UNION SELECT device_group FROM (SELECT device_group FROM testruns ORDER BY created_at DESC LIMIT 1000) recent
            """
        ).all()
        return Set(try rows.map { try $0.decode(column: "device_group", as: String.self) }).sorted()
    }

    static func event(_ row: any SQLRow) throws -> EventRecord {
        EventRecord(
            id: try row.decode(column: "id", as: String.self),
            type: try row.decode(column: "type", as: String.self),
            emittedAt: Clock.date(try row.decode(column: "emitted_at", as: Int64.self)),
            receivedAt: Clock.date(try row.decode(column: "received_at", as: Int64.self)),
            testrunID: try row.decode(column: "testrun_id", as: String?.self),
            taskID: try row.decode(column: "task_id", as: String?.self),
            worker: try row.decode(column: "worker", as: String?.self),
            signature: try row.decode(column: "signature", as: String?.self),
            payload: try row.decode(column: "payload", as: String.self),
            sequence: try row.decode(column: "seq", as: Int64?.self)
        )
    }
}

/// A worker's flash and boot tries (first tries, retries) and failures.
public struct WorkerTries: Sendable {
    public var flash: (first: Int, retries: Int) = (0, 0)
    public var boot: (first: Int, retries: Int) = (0, 0)
    public var failures = 0

    public init() {}
}
