import Foundation
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
    /// and failures. One query for a worker page, where the farm's whole
    /// statistics per instance would be far more work.
    public func tries(workers: [String], since: Date) async throws -> [String: WorkerTries] {
        guard !workers.isEmpty else { return [:] }
        let rows = try await db.raw(
            """
            SELECT worker, type, SUM(CASE WHEN try_number = 1 THEN 1 ELSE 0 END) AS first,
                   SUM(CASE WHEN try_number > 1 THEN 1 ELSE 0 END) AS again, COUNT(*) AS n
            FROM events WHERE worker IN (\(binds: workers)) AND received_at >= \(bind: Clock.millis(since))
            AND type IN ('device.flash.finished', 'device.boot.finished', 'failure')
            GROUP BY worker, type
            """
        ).all()
        var tries: [String: WorkerTries] = [:]
        for row in rows {
            let worker = try row.decode(column: "worker", as: String.self)
            let first = try row.decode(column: "first", as: Int?.self) ?? 0
            let again = try row.decode(column: "again", as: Int?.self) ?? 0
            switch try row.decode(column: "type", as: String.self) {
            case "device.flash.finished": tries[worker, default: WorkerTries()].flash = (first, again)
            case "device.boot.finished": tries[worker, default: WorkerTries()].boot = (first, again)
            default: tries[worker, default: WorkerTries()].failures = try row.decode(column: "n", as: Int.self)
            }
        }
        return tries
    }

    /// How often an error was seen, and first and last.
    public func occurrences(signature: String) async throws -> (count: Int, first: Date?, last: Date?) {
        let row = try await db.raw(
            "SELECT COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last FROM events WHERE type = 'failure' AND signature = \(bind: signature)"
        ).first()
        return (
            try row?.decode(column: "n", as: Int.self) ?? 0,
            try row?.decode(column: "first", as: Int64?.self).map(Clock.date),
            try row?.decode(column: "last", as: Int64?.self).map(Clock.date)
        )
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
