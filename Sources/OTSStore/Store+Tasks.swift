import Foundation
import OTSCore
import SQLKit

/// The state of a task in the queue.
public enum TaskState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for a worker.
    case queued
    /// Held by a worker under a lease.
    case claimed
    /// Done (with a verdict).
    case finished
    /// Ended with an error.
    case failed
    /// Cancelled before it ended.
    case cancelled
}

/// A task to put in the queue.
public struct NewTask: Sendable, Hashable {
    public var id: String
    public var testrunID: String
    public var sequence: Int
    public var routingKey: String
    /// What to run (JSON of the packages and sets), opaque to the store.
    public var work: String
    public var priority: Int

    public init(
        id: String = UUID().uuidString.lowercased(), testrunID: String, sequence: Int, routingKey: String, work: String, priority: Int = 0
    ) {
        self.id = id
        self.testrunID = testrunID
        self.sequence = sequence
        self.routingKey = routingKey
        self.work = work
        self.priority = priority
    }
}

/// A task as the store holds it.
public struct TaskRecord: Sendable, Hashable {
    public var id: String
    public var testrunID: String
    public var sequence: Int
    public var routingKey: String
    public var work: String
    public var state: TaskState
    public var priority: Int
    public var attempts: Int
    public var owner: String?
    public var leaseExpiresAt: Date?
    public var enqueuedAt: Date
    public var claimedAt: Date?
    public var finishedAt: Date?
    public var verdict: String?
    public var errorCategory: String?
    public var errorMessage: String?
    /// What the worker is doing (image, flash, boot, test, upload).
    public var phase: String?
    public var startedAt: Date?
    public var packagesDone: Int
    public var flashTries: Int
    public var bootTries: Int
}

extension StoreTransaction {
    static let taskColumns =
        "id, testrun_id, sequence, routing_key, work, state, priority, attempts, owner, lease_expires_at, enqueued_at, claimed_at, finished_at, verdict, error_category, error_message, phase, started_at, packages_done, flash_tries, boot_tries"

    /// Puts tasks in the queue, as part of the transaction that causes them.
    public func enqueue(_ tasks: [NewTask], at now: Date = Date()) async throws {
        let enqueued = Clock.millis(now)
        for start in stride(from: 0, to: tasks.count, by: 100) {
            var query = SQLQueryString(
                "INSERT INTO tasks (id, testrun_id, sequence, routing_key, work, state, priority, attempts, enqueued_at) VALUES "
            )
            for (offset, task) in tasks[start..<min(start + 100, tasks.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString =
                    "(\(bind: task.id), \(bind: task.testrunID), \(bind: task.sequence), \(bind: task.routingKey), \(bind: task.work), 'queued', \(bind: task.priority), 0, \(bind: enqueued))"
                query.appendInterpolation(row)
            }
            try await db.raw(query).run()
        }
    }

    /// Claims the next task for a worker instance: its most specific routing
    /// key first, then the highest priority, then the oldest. The claim is a
    /// lease until `now + lease`; nil when nothing waits.
    public func claim(owner: String, routingKeys: [String], lease: Duration, at now: Date = Date()) async throws -> TaskRecord? {
        guard !routingKeys.isEmpty else { return nil }
        var specificity = SQLQueryString("CASE routing_key")
        for (index, key) in routingKeys.enumerated() {
            specificity.appendInterpolation(unsafeRaw: " WHEN ")
            specificity.appendInterpolation(bind: key)
            specificity.appendInterpolation(unsafeRaw: " THEN \(index)")
        }
        specificity.appendInterpolation(unsafeRaw: " END")
        let expires = Clock.millis(now) + lease.milliseconds
        let query: SQLQueryString =
            """
            UPDATE tasks SET state = 'claimed', owner = \(bind: owner), lease_expires_at = \(bind: expires),
                claimed_at = \(bind: Clock.millis(now)), attempts = attempts + 1
            WHERE id = (
                SELECT id FROM tasks WHERE state = 'queued' AND routing_key IN (\(binds: routingKeys))
                ORDER BY \(specificity), priority DESC, enqueued_at ASC, sequence ASC LIMIT 1\(unsafeRaw: skipLocked)
            )
            RETURNING \(unsafeRaw: Self.taskColumns)
            """
        guard let row = try await db.raw(query).first() else { return nil }
        let task = try Self.task(row)
        try await recordAttempt(task, at: now)
        return task
    }

    /// Keeps who holds this attempt of a task: events about an attempt are
    /// accepted only from the worker that held it.
    func recordAttempt(_ task: TaskRecord, at now: Date) async throws {
        guard let owner = task.owner else { return }
        try await db.raw(
            """
            INSERT INTO task_attempts (task_id, attempt, owner, claimed_at)
            VALUES (\(bind: task.id), \(bind: task.attempts), \(bind: owner), \(bind: Clock.millis(now)))
            """
        ).run()
    }

    /// The attempts of a task that `owner` held (or holds).
    public func heldAttempts(taskID: String, owner: String) async throws -> Set<Int> {
        Set(
            try await db.raw(
                "SELECT attempt FROM task_attempts WHERE task_id = \(bind: taskID) AND owner = \(bind: owner)"
            ).all().map { try $0.decode(column: "attempt", as: Int.self) })
    }

    /// Extends the lease of a task its owner still holds; false when the
    /// owner lost it (expired and handed to another, or ended).
    public func renewLease(taskID: String, owner: String, lease: Duration, at now: Date = Date()) async throws -> Bool {
        let rows = try await db.raw(
            """
            UPDATE tasks SET lease_expires_at = \(bind: Clock.millis(now) + lease.milliseconds)
            WHERE id = \(bind: taskID) AND owner = \(bind: owner) AND state = 'claimed'
            RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    /// Renews the leases of those of `taskIDs` the owner still holds, in
    /// one statement (a heartbeat's tasks whose reports wait in the spool).
    public func renewLeases(taskIDs: Set<String>, owner: String, lease: Duration, at now: Date = Date()) async throws {
        guard !taskIDs.isEmpty else { return }
        try await db.raw(
            """
            UPDATE tasks SET lease_expires_at = \(bind: Clock.millis(now) + lease.milliseconds)
            WHERE id IN (\(binds: taskIDs.sorted())) AND owner = \(bind: owner) AND state = 'claimed'
            """
        ).run()
    }

    /// Ends a task its owner holds: `finished` with a verdict, or `failed`
    /// with an error. Throws `conflict` when the owner no longer holds it.
    public func finish(
        taskID: String,
        owner: String,
        state: TaskState,
        verdict: String? = nil,
        errorCategory: String? = nil,
        errorMessage: String? = nil,
        at now: Date = Date()
    ) async throws -> TaskRecord {
        precondition(state == .finished || state == .failed, "a task finishes as finished or failed")
        let row = try await db.raw(
            """
            UPDATE tasks SET state = \(bind: state.rawValue), verdict = \(bind: verdict), error_category = \(bind: errorCategory),
                error_message = \(bind: errorMessage), finished_at = \(bind: Clock.millis(now)), lease_expires_at = NULL
            WHERE id = \(bind: taskID) AND owner = \(bind: owner) AND state = 'claimed'
            RETURNING \(unsafeRaw: Self.taskColumns)
            """
        ).first()
        guard let row else {
            throw StoreError(.conflict, "task \(taskID) is not held by \(owner)")
        }
        return try Self.task(row)
    }

    /// Undoes a claim whose worker never heard of it: the task is queued
    /// again as it was, the attempt not counted. False when the claim is no
    /// longer that one.
    public func unclaim(taskID: String, owner: String, attempt: Int) async throws -> Bool {
        let rows = try await db.raw(
            """
            UPDATE tasks SET state = 'queued', owner = NULL, lease_expires_at = NULL, claimed_at = NULL, attempts = attempts - 1
            WHERE id = \(bind: taskID) AND owner = \(bind: owner) AND state = 'claimed' AND attempts = \(bind: attempt)
            RETURNING id
            """
        ).all()
        guard !rows.isEmpty else { return false }
        try await db.raw("DELETE FROM task_attempts WHERE task_id = \(bind: taskID) AND attempt = \(bind: attempt)").run()
        return true
    }

    /// Puts a claimed task back in the queue (its attempts are kept).
    public func requeue(taskID: String, at now: Date = Date()) async throws -> TaskRecord {
        let row = try await db.raw(
            """
            UPDATE tasks SET state = 'queued', owner = NULL, lease_expires_at = NULL, claimed_at = NULL,
                enqueued_at = \(bind: Clock.millis(now)), phase = NULL, started_at = NULL, packages_done = 0
            WHERE id = \(bind: taskID) AND state = 'claimed'
            RETURNING \(unsafeRaw: Self.taskColumns)
            """
        ).first()
        guard let row else { throw StoreError(.conflict, "task \(taskID) is not claimed") }
        return try Self.task(row)
    }

    /// Cancels every task of a testrun that has not ended; returns them.
    public func cancelTasks(testrunID: String, at now: Date = Date()) async throws -> [TaskRecord] {
        try await db.raw(
            """
            UPDATE tasks SET state = 'cancelled', finished_at = \(bind: Clock.millis(now)), lease_expires_at = NULL
            WHERE testrun_id = \(bind: testrunID) AND state IN ('queued', 'claimed')
            RETURNING \(unsafeRaw: Self.taskColumns)
            """
        ).all().map(Self.task)
    }

    /// Claimed tasks whose lease has run out, locked for this transaction.
    public func expiredLeases(at now: Date = Date(), limit: Int = 100) async throws -> [TaskRecord] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.taskColumns) FROM tasks
            WHERE state = 'claimed' AND lease_expires_at < \(bind: Clock.millis(now))
            ORDER BY lease_expires_at LIMIT \(unsafeRaw: String(limit))\(unsafeRaw: skipLocked)
            """
        ).all().map(Self.task)
    }

    public func task(id: String) async throws -> TaskRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE id = \(bind: id)").first().map(Self.task)
    }

    public func tasks(testrunID: String) async throws -> [TaskRecord] {
        try await db.raw(
            "SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE testrun_id = \(bind: testrunID) ORDER BY sequence"
        ).all().map(Self.task)
    }

    /// The tasks of several testruns in one query, by testrun.
    public func tasks(testrunIDs: [String]) async throws -> [String: [TaskRecord]] {
        guard !testrunIDs.isEmpty else { return [:] }
        let tasks = try await db.raw(
            "SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE testrun_id IN (\(binds: testrunIDs)) ORDER BY testrun_id, sequence"
        ).all().map(Self.task)
        return Dictionary(grouping: tasks, by: \.testrunID)
    }

    /// How many tasks wait for each of the routing keys.
    public func queuedCount(routingKeys: [String]) async throws -> Int {
        guard !routingKeys.isEmpty else { return 0 }
        let row = try await db.raw("SELECT COUNT(*) AS n FROM tasks WHERE state = 'queued' AND routing_key IN (\(binds: routingKeys))")
            .first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    static func task(_ row: any SQLRow) throws -> TaskRecord {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: Int64?.self).map(Clock.date)
        }
        return TaskRecord(
            id: try row.decode(column: "id", as: String.self),
            testrunID: try row.decode(column: "testrun_id", as: String.self),
            sequence: try row.decode(column: "sequence", as: Int.self),
            routingKey: try row.decode(column: "routing_key", as: String.self),
            work: try row.decode(column: "work", as: String.self),
            state: TaskState(rawValue: try row.decode(column: "state", as: String.self)) ?? .failed,
            priority: try row.decode(column: "priority", as: Int.self),
            attempts: try row.decode(column: "attempts", as: Int.self),
            owner: try row.decode(column: "owner", as: String?.self),
            leaseExpiresAt: try date("lease_expires_at"),
            enqueuedAt: try date("enqueued_at") ?? Date(timeIntervalSince1970: 0),
            claimedAt: try date("claimed_at"),
            finishedAt: try date("finished_at"),
            verdict: try row.decode(column: "verdict", as: String?.self),
            errorCategory: try row.decode(column: "error_category", as: String?.self),
            errorMessage: try row.decode(column: "error_message", as: String?.self),
            phase: try row.decode(column: "phase", as: String?.self),
            startedAt: try date("started_at"),
            packagesDone: try row.decode(column: "packages_done", as: Int.self),
            flashTries: try row.decode(column: "flash_tries", as: Int.self),
            bootTries: try row.decode(column: "boot_tries", as: Int.self)
        )
    }
}
