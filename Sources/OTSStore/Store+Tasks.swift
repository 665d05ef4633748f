import Foundation
import OTSCore
import SQLKit

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

/// What `perform` did with a task.
public struct TaskChange: Sendable, Hashable {
    /// What the lifecycle decided.
    public var action: TaskLifecycle.Action
    /// The task as written; as it was when nothing was written.
    public var task: TaskRecord
    /// The write found the task changed since it was read (another
    /// replica or request decided first): nothing was written.
    public var lost: Bool

    /// Whether the change was written.
    public var isWritten: Bool { action.write != nil && !lost }
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

    // MARK: Changes of state

    /// Runs one input through the task's lifecycle and writes what it
    /// decides, as one compare-and-set on the task as `task` shows it
    /// (`UPDATE … WHERE id = ? AND state = ? AND owner = ? AND attempts = ?`):
    /// of two replicas (or two requests) deciding on the same task, one
    /// writes and the other finds it `lost`. This is the only place that
    /// changes a task's state.
    public func perform(
        _ input: TaskLifecycle.Input, on task: TaskRecord, maxAttempts: Int = 2, lease: Duration = .zero, at now: Date = Date()
    ) async throws -> TaskChange {
        var lifecycle = TaskLifecycle(record: task, maxAttempts: maxAttempts)
        let action = lifecycle.handle(input)
        guard let write = action.write else { return TaskChange(action: action, task: task, lost: false) }
        let millis = Clock.millis(now)
        var sets: SQLQueryString
        switch write {
        case .claim(let owner):
            sets =
                "state = 'claimed', owner = \(bind: owner), lease_expires_at = \(bind: millis + lease.milliseconds), claimed_at = \(bind: millis), attempts = attempts + 1"
        case .start:
            sets = "started_at = COALESCE(started_at, \(bind: millis))"
        case .renewLease:
            sets = "lease_expires_at = \(bind: millis + lease.milliseconds)"
        case .requeue:
            sets =
                "state = 'queued', owner = NULL, lease_expires_at = NULL, claimed_at = NULL, enqueued_at = \(bind: millis), phase = NULL, started_at = NULL, packages_done = 0"
        case .undoClaim:
            sets = "state = 'queued', owner = NULL, lease_expires_at = NULL, claimed_at = NULL, attempts = attempts - 1"
        case .end:
            var verdict: String?
            var category: String?
            var message: String?
            switch action.state {
            case .finished(let value): verdict = value.rawValue
            case .failed(let value, let text): (category, message) = (value.rawValue, text)
            default: break
            }
            sets =
                "state = \(bind: action.state.stored.rawValue), verdict = \(bind: verdict), error_category = \(bind: category), error_message = \(bind: message), finished_at = \(bind: millis), lease_expires_at = NULL"
        }
        var query = SQLQueryString("UPDATE tasks SET ")
        query.appendInterpolation(sets)
        query.appendInterpolation(
            " WHERE id = \(bind: task.id) AND state = \(bind: task.state.rawValue) AND attempts = \(bind: task.attempts)" as SQLQueryString)
        if let owner = task.owner {
            query.appendInterpolation(" AND owner = \(bind: owner)" as SQLQueryString)
        } else {
            query.appendInterpolation(unsafeRaw: " AND owner IS NULL")
        }
        query.appendInterpolation(unsafeRaw: " RETURNING \(Self.taskColumns)")
        guard let row = try await db.raw(query).first() else { return TaskChange(action: action, task: task, lost: true) }
        let written = try Self.task(row)
        switch write {
        case .claim: try await recordAttempt(written, at: now)
        case .undoClaim:
            try await db.raw("DELETE FROM task_attempts WHERE task_id = \(bind: task.id) AND attempt = \(bind: task.attempts)").run()
        default: break
        }
        return TaskChange(action: action, task: written, lost: false)
    }

    /// `perform` on the task with this id, locked for the transaction; nil
    /// when there is no such task.
    public func perform(
        _ input: TaskLifecycle.Input, onTask id: String, maxAttempts: Int = 2, lease: Duration = .zero, at now: Date = Date()
    ) async throws -> TaskChange? {
        guard let task = try await lockTask(id: id) else { return nil }
        return try await perform(input, on: task, maxAttempts: maxAttempts, lease: lease, at: now)
    }

    /// The next task a worker instance would claim: its most specific
    /// routing key first, then the highest priority, then the oldest;
    /// locked for this transaction (another claimer skips it).
    public func nextQueued(routingKeys: [String]) async throws -> TaskRecord? {
        guard !routingKeys.isEmpty else { return nil }
        var specificity = SQLQueryString("CASE routing_key")
        for (index, key) in routingKeys.enumerated() {
            specificity.appendInterpolation(unsafeRaw: " WHEN ")
            specificity.appendInterpolation(bind: key)
            specificity.appendInterpolation(unsafeRaw: " THEN \(index)")
        }
        specificity.appendInterpolation(unsafeRaw: " END")
        let query: SQLQueryString =
            """
            SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE state = 'queued' AND routing_key IN (\(binds: routingKeys))
            ORDER BY \(specificity), priority DESC, enqueued_at ASC, sequence ASC LIMIT 1\(unsafeRaw: skipLocked)
            """
        return try await db.raw(query).first().map(Self.task)
    }

    /// Whether a task waits for any of these routing keys: a plain read,
    /// for a claim that polls to ask before it takes the write lock.
    public func hasQueued(routingKeys: [String]) async throws -> Bool {
        guard !routingKeys.isEmpty else { return false }
        return try await !db.raw(
            "SELECT id FROM tasks WHERE state = 'queued' AND routing_key IN (\(binds: routingKeys)) LIMIT 1"
        ).all().isEmpty
    }

    /// Claims the next task for a worker instance (see `nextQueued`) under
    /// a lease until `now + lease`; nil when nothing waits.
    public func claim(owner: String, routingKeys: [String], lease: Duration, at now: Date = Date()) async throws -> TaskRecord? {
        try await claimNext(owner: owner, routingKeys: routingKeys, lease: lease, at: now)?.task
    }

    /// `claim`, with what the lifecycle decided (the events to tell).
    public func claimNext(owner: String, routingKeys: [String], lease: Duration, maxAttempts: Int = 2, at now: Date = Date())
        async throws -> TaskChange?
    {
        // A candidate lost to another claimer (possible on PostgreSQL
        // between the read and the write) is passed over for the next.
        for _ in 0..<3 {
            guard let task = try await nextQueued(routingKeys: routingKeys) else { return nil }
            let change = try await perform(.claim(owner: owner), on: task, maxAttempts: maxAttempts, lease: lease, at: now)
            if change.isWritten { return change }
        }
        return nil
    }

    /// Claims one queued task by id for a worker; nil when it is no longer
    /// queued.
    public func claim(taskID: String, owner: String, lease: Duration, at now: Date = Date()) async throws -> TaskRecord? {
        guard let change = try await perform(.claim(owner: owner), onTask: taskID, lease: lease, at: now),
            change.action.write != nil, !change.lost
        else { return nil }
        return change.task
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
        guard let change = try await perform(.heartbeat(owner: owner), onTask: taskID, lease: lease, at: now) else { return false }
        return change.action.write == .renewLease && !change.lost
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
        let input: TaskLifecycle.Input =
            state == .failed
            ? .fail(owner: owner, errorCategory.flatMap(ErrorCategory.init(rawValue:)) ?? .infrastructure, errorMessage ?? "")
            : .finish(owner: owner, verdict.flatMap(Verdict.init(rawValue:)) ?? .error)
        guard let change = try await perform(input, onTask: taskID, at: now), change.action.write == .end, !change.lost else {
            throw StoreError(.conflict, "task \(taskID) is not held by \(owner)")
        }
        return change.task
    }

    /// Undoes a claim whose worker never heard of it: the task is queued
    /// again as it was, the attempt not counted. False when the claim is no
    /// longer that one.
    public func unclaim(taskID: String, owner: String, attempt: Int, reason: String = "") async throws -> Bool {
        guard let change = try await perform(.putBack(owner: owner, attempt: attempt, reason: reason), onTask: taskID) else {
            return false
        }
        return change.action.write == .undoClaim && !change.lost
    }

    /// Cancels every task of a testrun that has not ended, each through its
    /// lifecycle; returns what each change did.
    public func cancelTasks(testrunID: String, at now: Date = Date()) async throws -> [TaskChange] {
        var changes: [TaskChange] = []
        for task in try await tasks(testrunID: testrunID) where !task.state.isEnded {
            let change = try await perform(.cancel, on: task, at: now)
            if change.action.write != nil && !change.lost { changes.append(change) }
        }
        return changes
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

    /// Those of the tasks with these ids that name `owner` (it holds them,
    /// or held them last), in one query.
    public func tasks(ids: Set<String>, owner: String) async throws -> [TaskRecord] {
        guard !ids.isEmpty else { return [] }
        return try await db.raw(
            "SELECT \(unsafeRaw: Self.taskColumns) FROM tasks WHERE id IN (\(binds: ids.sorted())) AND owner = \(bind: owner) ORDER BY id"
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

extension TaskLifecycle {
    /// The lifecycle of a stored task: claimed and running are told apart
    /// by whether it has started.
    public init(record: TaskRecord, maxAttempts: Int) {
        let state: State
        switch record.state {
        case .queued: state = .queued
        case .claimed: state = record.startedAt == nil ? .claimed(owner: record.owner ?? "") : .running(owner: record.owner ?? "")
        case .finished: state = .finished(record.verdict.flatMap(Verdict.init(rawValue:)) ?? .pass)
        case .failed:
            state = .failed(record.errorCategory.flatMap(ErrorCategory.init(rawValue:)) ?? .infrastructure, record.errorMessage ?? "")
        case .cancelled: state = .cancelled
        }
        self.init(state: state, attempts: record.attempts, maxAttempts: maxAttempts, lastOwner: record.owner)
    }
}
