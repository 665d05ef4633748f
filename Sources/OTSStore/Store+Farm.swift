import Foundation
import OTSCore
import SQLKit

/// A fetched file of a package, without its content.
public struct FileRecord: Sendable, Hashable {
    public var taskID: String
    public var package: String
    public var name: String
    public var size: Int64

    public init(taskID: String, package: String, name: String, size: Int64) {
        self.taskID = taskID
        self.package = package
        self.name = name
        self.size = size
    }
}

/// Which testruns to list.
public struct TestrunFilter: Sendable, Hashable {
    public var state: TestrunState?
    public var deviceGroup: String?
    public var requestor: String?
    public var limit: Int

    public init(state: TestrunState? = nil, deviceGroup: String? = nil, requestor: String? = nil, limit: Int = 100) {
        self.state = state
        self.deviceGroup = deviceGroup
        self.requestor = requestor
        self.limit = limit
    }
}

/// What a worker's event says about its task's progress (not its state:
/// that changes only through `perform`).
public struct TaskProgress: Sendable, Hashable {
    public var phase: String?
    public var packageDone: Bool
    public var flashTry: Int?
    public var bootTry: Int?

    public init(phase: String? = nil, packageDone: Bool = false, flashTry: Int? = nil, bootTry: Int? = nil) {
        self.phase = phase
        self.packageDone = packageDone
        self.flashTry = flashTry
        self.bootTry = bootTry
    }
}

extension StoreTransaction {
    // MARK: Testruns

    /// Records a new testrun; `deadline` is when its global timeout ends it.
    public func insertTestrun(
        id: String, request: String, deviceGroup: String, requestor: String?, priority: Int, deadline: Date?, plan: String? = nil,
        at now: Date = Date()
    ) async throws {
        try await db.raw(
            """
            INSERT INTO testruns (id, request, device_group, state, priority, created_at, updated_at, deadline, requestor, plan)
            VALUES (\(bind: id), \(bind: request), \(bind: deviceGroup), 'queued', \(bind: priority),
                    \(bind: Clock.millis(now)), \(bind: Clock.millis(now)), \(bind: deadline.map { Clock.millis($0) }), \(bind: requestor),
                    \(bind: plan))
            """
        ).run()
    }

    /// Testruns, newest first.
    public func testruns(_ filter: TestrunFilter) async throws -> [TestrunRecord] {
        var query = SQLQueryString("SELECT \(unsafeRaw: Self.testrunColumns) FROM testruns WHERE 1 = 1")
        if let state = filter.state { query.appendInterpolation(" AND state = \(bind: state.rawValue)" as SQLQueryString) }
        if let group = filter.deviceGroup { query.appendInterpolation(" AND device_group = \(bind: group)" as SQLQueryString) }
        if let requestor = filter.requestor { query.appendInterpolation(" AND requestor = \(bind: requestor)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY created_at DESC, id LIMIT \(max(1, min(filter.limit, 1000)))")
        return try await db.raw(query).all().map(Self.testrun)
    }

    /// Testruns not ended whose deadline has passed.
    /// Whether a sweep has anything to do: an expired lease, a task
    /// queued before `queuedBefore` or claimed before `claimedBefore`, or a
    /// testrun past its deadline. A plain read.
    public func hasSweepWork(at now: Date, queuedBefore: Date, claimedBefore: Date) async throws -> Bool {
        let row = try await db.raw(
            """
            SELECT
              EXISTS (SELECT 1 FROM tasks WHERE state = 'claimed' AND lease_expires_at < \(bind: Clock.millis(now))) AS leases,
              EXISTS (SELECT 1 FROM tasks WHERE state = 'queued' AND enqueued_at < \(bind: Clock.millis(queuedBefore))) AS queued,
              EXISTS (SELECT 1 FROM tasks WHERE state = 'claimed' AND claimed_at < \(bind: Clock.millis(claimedBefore))) AS running,
              EXISTS (SELECT 1 FROM testruns WHERE state IN ('queued', 'running') AND deadline < \(bind: Clock.millis(now))) AS overdue
            """
        ).first()
        guard let row else { return false }
        for column in ["leases", "queued", "running", "overdue"] where try row.decode(column: column, as: Bool.self) {
            return true
        }
        return false
    }

    public func overdueTestruns(at now: Date = Date(), limit: Int = 100) async throws -> [TestrunRecord] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.testrunColumns) FROM testruns
            WHERE state IN ('queued', 'running') AND deadline < \(bind: Clock.millis(now))
            ORDER BY deadline LIMIT \(unsafeRaw: String(limit))\(unsafeRaw: skipLocked)
            """
        ).all().map(Self.testrun)
    }

    /// The testrun, locked for this transaction (PostgreSQL), so that two
    /// replicas deciding its end take turns.
    public func lockTestrun(id: String) async throws -> TestrunRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.testrunColumns) FROM testruns WHERE id = \(bind: id)\(unsafeRaw: forUpdate)")
            .first().map(Self.testrun)
    }

    // MARK: Tasks

    /// Queued tasks that have waited since before `enqueuedBefore`.
    public func tasksWaiting(since enqueuedBefore: Date, limit: Int = 100) async throws -> [TaskRecord] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.taskColumns) FROM tasks
            WHERE state = 'queued' AND enqueued_at < \(bind: Clock.millis(enqueuedBefore))
            ORDER BY enqueued_at LIMIT \(unsafeRaw: String(limit))\(unsafeRaw: skipLocked)
            """
        ).all().map(Self.task)
    }

    /// Claimed tasks claimed before `claimedBefore`.
    public func tasksRunning(since claimedBefore: Date, limit: Int = 100) async throws -> [TaskRecord] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.taskColumns) FROM tasks
            WHERE state = 'claimed' AND claimed_at < \(bind: Clock.millis(claimedBefore))
            ORDER BY claimed_at LIMIT \(unsafeRaw: String(limit))\(unsafeRaw: skipLocked)
            """
        ).all().map(Self.task)
    }

    /// Records what a worker reported about its task; false when the task
    /// is not held by `owner` any more.
    @discardableResult
    public func recordProgress(taskID: String, owner: String, _ progress: TaskProgress, at now: Date = Date()) async throws -> Bool {
        var sets: [SQLQueryString] = []
        if let phase = progress.phase { sets.append("phase = \(bind: phase)") }
        if progress.packageDone { sets.append("packages_done = packages_done + 1") }
        if let flashTry = progress.flashTry {
            sets.append("flash_tries = CASE WHEN flash_tries < \(bind: flashTry) THEN \(bind: flashTry) ELSE flash_tries END")
        }
        if let bootTry = progress.bootTry {
            sets.append("boot_tries = CASE WHEN boot_tries < \(bind: bootTry) THEN \(bind: bootTry) ELSE boot_tries END")
        }
        guard !sets.isEmpty else { return true }
        var query = SQLQueryString("UPDATE tasks SET ")
        for (index, set) in sets.enumerated() {
            if index > 0 { query.appendInterpolation(unsafeRaw: ", ") }
            query.appendInterpolation(set)
        }
        query.appendInterpolation(
            " WHERE id = \(bind: taskID) AND owner = \(bind: owner) AND state = 'claimed' RETURNING id" as SQLQueryString)
        return try await !db.raw(query).all().isEmpty
    }

    // MARK: Workers

    /// Records a heartbeat with the task the worker holds.
    public func heartbeat(workerID: String, state: String, currentTask: String?, at now: Date = Date()) async throws -> Bool {
        try await !db.raw(
            """
            UPDATE workers SET state = \(bind: state), current_task = \(bind: currentTask), last_heartbeat = \(bind: Clock.millis(now))
            WHERE id = \(bind: workerID) RETURNING id
            """
        ).all().isEmpty
    }

    // MARK: Files

    /// Stores a fetched file; a resent upload replaces the earlier one.
    public func saveFile(_ file: FileRecord, content: [UInt8], at now: Date = Date()) async throws {
        try await db.raw(
            """
            INSERT INTO files (task_id, package, name, content, size, created_at)
            VALUES (\(bind: file.taskID), \(bind: file.package), \(bind: file.name), \(bind: Data(content)),
                    \(bind: Int64(content.count)), \(bind: Clock.millis(now)))
            ON CONFLICT (task_id, package, name) DO UPDATE SET content = excluded.content, size = excluded.size
            """
        ).run()
    }

    /// The fetched files of a testrun, in task, package and name order.
    public func files(testrunID: String) async throws -> [FileRecord] {
        try await db.raw(
            """
            SELECT f.task_id, f.package, f.name, f.size FROM files f JOIN tasks t ON t.id = f.task_id
            WHERE t.testrun_id = \(bind: testrunID) ORDER BY t.sequence, f.package, f.name
            """
        ).all().map { row in
            FileRecord(
                taskID: try row.decode(column: "task_id", as: String.self),
                package: try row.decode(column: "package", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                size: try row.decode(column: "size", as: Int64.self)
            )
        }
    }

    /// The content of one fetched file.
    public func fileContent(taskID: String, package: String, name: String) async throws -> [UInt8]? {
        let row = try await db.raw(
            "SELECT content FROM files WHERE task_id = \(bind: taskID) AND package = \(bind: package) AND name = \(bind: name)"
        ).first()
        guard let row else { return nil }
        return [UInt8](try row.decode(column: "content", as: Data.self))
    }

    // MARK: Received events

    /// Records event ids as received; returns those not received before.
    public func receiveEvents(ids: [String], at now: Date = Date()) async throws -> Set<String> {
        var new: Set<String> = []
        for start in stride(from: 0, to: ids.count, by: 100) {
            var query = SQLQueryString("INSERT INTO received_events (id, received_at) VALUES ")
            for (offset, id) in ids[start..<min(start + 100, ids.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                query.appendInterpolation("(\(bind: id), \(bind: Clock.millis(now)))" as SQLQueryString)
            }
            query.appendInterpolation(unsafeRaw: " ON CONFLICT (id) DO NOTHING RETURNING id")
            for row in try await db.raw(query).all() {
                new.insert(try row.decode(column: "id", as: String.self))
            }
        }
        return new
    }

    /// Forgets received event ids older than `before`; a sender resends
    /// within minutes, not days.
    public func forgetReceivedEvents(before: Date) async throws {
        try await db.raw("DELETE FROM received_events WHERE received_at < \(bind: Clock.millis(before))").run()
    }
}

extension StoreTransaction {
    /// One registered worker instance (every claim and heartbeat asks).
    public func worker(id: String) async throws -> WorkerRecord? {
        try await workers(id: id).first
    }
}

extension StoreTransaction {
    /// Workers not offline whose last heartbeat is older than `before`.
    public func silentWorkers(before: Date) async throws -> [WorkerRecord] {
        try await workers().filter { $0.state != "offline" && $0.lastHeartbeat < before }
    }

    /// Sets a worker's state without touching its heartbeat; false when it
    /// is not registered.
    @discardableResult
    public func setWorkerState(id: String, state: String) async throws -> Bool {
        try await !db.raw("UPDATE workers SET state = \(bind: state) WHERE id = \(bind: id) RETURNING id").all().isEmpty
    }
}

extension StoreTransaction {
    /// Stored events after a position of the monitor queue, in queue order:
    /// what a live stream sends next.
    public func events(
        afterSequence position: Int64, testrunID: String? = nil, worker: String? = nil, type: String? = nil, limit: Int = 500
    )
        async throws -> [(sequence: Int64, payload: String)]
    {
        var query = SQLQueryString("SELECT seq, payload FROM events WHERE seq > \(bind: position)")
        if let testrunID { query.appendInterpolation(" AND testrun_id = \(bind: testrunID)" as SQLQueryString) }
        if let worker { query.appendInterpolation(" AND worker = \(bind: worker)" as SQLQueryString) }
        if let type { query.appendInterpolation(" AND type = \(bind: type)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY seq LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map {
            (try $0.decode(column: "seq", as: Int64.self), try $0.decode(column: "payload", as: String.self))
        }
    }
}

extension StoreTransaction {
    /// How many tasks wait for a worker.
    public func queuedTasks() async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM tasks WHERE state = 'queued'").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// When the oldest waiting task was queued.
    public func oldestQueuedTask() async throws -> Date? {
        try await db.raw("SELECT MIN(enqueued_at) AS oldest FROM tasks WHERE state = 'queued'").first()?
            .decode(column: "oldest", as: Int64?.self).map(Clock.date)
    }
}

extension StoreTransaction {
    /// How many stored events have the type.
    public func eventCount(type: String) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM events WHERE type = \(bind: type)").first()?.decode(column: "n", as: Int.self) ?? 0
    }
}
