import Foundation
import OTSCore
import SQLKit

/// A set a task has started (dynamic balancing moves only sets not started).
public struct StartedSet: Sendable, Hashable {
    public var package: String
    public var set: String
    public var startedAt: Date

    public init(package: String, set: String, startedAt: Date) {
        self.package = package
        self.set = set
        self.startedAt = startedAt
    }
}

extension StoreTransaction {
    /// The task, locked for this transaction (PostgreSQL; SQLite writers
    /// take turns anyway), so that a set's start and its move take turns.
    public func lockTask(id: String) async throws -> TaskRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE id = \(bind: id)\(unsafeRaw: forUpdate)")
            .first().map(Self.task)
    }

    /// Records that a task starts a set; a repeat (a later attempt) keeps
    /// the first time.
    public func recordSetStart(taskID: String, package: String, set: String, at now: Date = Date()) async throws {
        try await db.raw(
            """
            INSERT INTO task_sets (task_id, package, set_name, started_at)
            VALUES (\(bind: taskID), \(bind: package), \(bind: set), \(bind: Clock.millis(now)))
            ON CONFLICT (task_id, package, set_name) DO NOTHING
            """
        ).run()
    }

    /// The sets a task has started, oldest first.
    public func startedSets(taskID: String) async throws -> [StartedSet] {
        try await db.raw(
            "SELECT package, set_name, started_at FROM task_sets WHERE task_id = \(bind: taskID) ORDER BY started_at, package, set_name"
        ).all().map { row in
            StartedSet(
                package: try row.decode(column: "package", as: String.self), set: try row.decode(column: "set_name", as: String.self),
                startedAt: Clock.date(try row.decode(column: "started_at", as: Int64.self)))
        }
    }

    /// Tasks running (claimed and started) on the routing keys, locked for
    /// this transaction; those another transaction holds are skipped.
    public func runningTasks(routingKeys: [String], limit: Int = 200) async throws -> [TaskRecord] {
        guard !routingKeys.isEmpty else { return [] }
        return try await db.raw(
            """
            SELECT \(unsafeRaw: Self.taskColumns) FROM tasks
            WHERE state = 'claimed' AND started_at IS NOT NULL AND routing_key IN (\(binds: routingKeys))
            ORDER BY testrun_id, sequence LIMIT \(unsafeRaw: String(max(1, limit)))\(unsafeRaw: skipLocked)
            """
        ).all().map(Self.task)
    }

    /// Replaces what a task runs.
    public func updateWork(taskID: String, work: String) async throws {
        try await db.raw("UPDATE tasks SET work = \(bind: work) WHERE id = \(bind: taskID)").run()
    }

    /// The next sequence number for a testrun's tasks.
    public func nextSequence(testrunID: String) async throws -> Int {
        let row = try await db.raw("SELECT MAX(sequence) AS n FROM tasks WHERE testrun_id = \(bind: testrunID)").first()
        return (try row?.decode(column: "n", as: Int?.self) ?? -1) + 1
    }

    /// Whether the worker has held a task of the testrun (its device then
    /// holds the testrun's image).
    public func hasHeldTask(owner: String, testrunID: String) async throws -> Bool {
        try await !db.raw(
            "SELECT id FROM tasks WHERE owner = \(bind: owner) AND testrun_id = \(bind: testrunID) LIMIT 1"
        ).all().isEmpty
    }

    /// The testrun whose image the worker's device holds, as far as the
    /// store knows: that of the newest task the worker held that went
    /// through flashing, when its flash succeeded (the task went on to
    /// boot); nil when that flash failed or never ended, or the worker
    /// never flashed. Any testrun counts, not only the current ones.
    public func lastFlashedTestrun(owner: String) async throws -> TestrunRecord? {
        let row = try await db.raw(
            """
            SELECT testrun_id, phase FROM tasks
            WHERE owner = \(bind: owner) AND phase IN ('flash', 'boot', 'test', 'upload')
            ORDER BY claimed_at DESC, sequence DESC, id DESC LIMIT 1
            """
        ).first()
        guard let row, try row.decode(column: "phase", as: String.self) != "flash" else { return nil }
        return try await testrun(id: try row.decode(column: "testrun_id", as: String.self))
    }
}

extension Store {
    /// Whether any running task on the routing keys has started a set
    /// through the server (tasks of history-planned testruns): a read
    /// outside any write transaction, so that idle workers polling for work
    /// do not take the write lock for nothing.
    public func hasTasksWithStartedSets(routingKeys: [String]) async throws -> Bool {
        guard !routingKeys.isEmpty else { return false }
        return try await database.withConnection(reading: true) { db in
            try await !db.raw(
                """
                SELECT t.id FROM tasks t
                WHERE t.state = 'claimed' AND t.routing_key IN (\(binds: routingKeys))
                  AND EXISTS (SELECT 1 FROM task_sets s WHERE s.task_id = t.id)
                LIMIT 1
                """
            ).all().isEmpty
        }
    }
}
